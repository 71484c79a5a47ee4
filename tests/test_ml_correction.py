"""Exact correction of emulated posteriors: PSIS re-weighting, delayed acceptance, and VSEM end to end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

pytest.importorskip("tinygp")

from bayeslsm.ml import delayed_acceptance, gaussian_loglik, psis_correction


def test_psis_recovers_a_known_target():
    """Draws of N(0, 1) re-weighted to N(0.3, 1.1^2): weighted mean and sd match, k-hat small."""
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.standard_normal(n)
    log_target = -0.5 * ((x - 0.3) / 1.1) ** 2
    log_proposal = -0.5 * x**2
    res = psis_correction(x[:, None], log_target, log_proposal, names=["x"])
    s = res.summary()["x"]
    # Monte Carlo error of a self-normalised importance mean: sd / sqrt(ESS); 4 standard errors
    se = 1.1 / np.sqrt(res.ess)
    assert abs(s["mean"] - 0.3) < 4 * se, (s, se)
    assert abs(s["sd"] / 1.1 - 1) < 4 / np.sqrt(2 * res.ess), s
    assert res.khat < 0.5 and res.reliable, res.khat
    assert res.n_exact == n


def test_psis_flags_a_proposal_that_misses_the_target():
    """A proposal much narrower than the target: heavy-tailed weights, k-hat above 0.7."""
    rng = np.random.default_rng(1)
    x = 0.3 * rng.standard_normal(2000)
    res = psis_correction(x[:, None], -0.5 * (x / 1.5) ** 2, -0.5 * (x / 0.3) ** 2)
    assert res.khat > 0.7 and not res.reliable, res.khat


def test_delayed_acceptance_targets_the_exact_posterior():
    """Exact posterior N(1, 0.5^2) (Gaussian likelihood, flat prior); the emulator is biased (mean 1.25)."""
    priors = {"x": dist.Uniform(-10.0, 10.0)}
    loglik = gaussian_loglik(np.array([1.0]), 0.5)
    calls = {"n": 0}

    def exact(theta):
        calls["n"] += 1
        return np.asarray(theta[:1], dtype=float)

    def emulator(theta):
        return 0.8 * theta[:1] + 0.05  # loglik(emulator) peaks at x = 1.1875, sd 0.625

    n = 4000
    res = delayed_acceptance(priors, loglik, emulator, exact, np.array([0.0]), np.array([[0.4]]), n, seed=0)
    chain = res.chain[500:, 0]
    import arviz as az

    ess = float(az.ess(chain[None]))
    # 4 Monte Carlo standard errors of the chain mean (sd / sqrt(ESS)), and of the sd (sd / sqrt(2 ESS))
    assert abs(chain.mean() - 1.0) < 4 * 0.5 / np.sqrt(ess), (chain.mean(), ess)
    assert abs(chain.std() / 0.5 - 1) < 4 / np.sqrt(2 * ess), (chain.std(), ess)
    assert res.n_exact == calls["n"] < n  # exact runs only for proposals the emulator stage accepts
    assert 0 < res.accept_stage2 <= 1


@pytest.mark.slow
def test_corrected_posterior_equals_exact_on_vsem():
    """VSEM twin (1 year, monthly mean NEE, LUE and tauV free): emulator + active learning + PSIS against
    exact NUTS on the same posterior. Tolerance: 4 Monte Carlo standard errors of the difference,
    sqrt(sd^2/ESS_exact + sd^2/ESS_PSIS) for means and sqrt(1/(2 ESS_exact) + 1/(2 ESS_PSIS)) relative for sds."""
    import arviz as az

    from bayeslsm.data import weather_generator
    from bayeslsm.lsm import VSEM, simulate
    from bayeslsm.ml import PythonModel, calibrate_external, nuts_on_emulator

    m = VSEM()
    f = weather_generator(years=1, seed=3)
    par = jnp.asarray(f["par"].values)
    month = f["time"].dt.month.values - 1
    A = np.zeros((12, month.size))
    A[month, np.arange(month.size)] = 1.0
    A = jnp.asarray(A / A.sum(1, keepdims=True))
    base = dict(m.DEFAULTS)

    @jax.jit
    def outputs(theta):
        v = dict(base, LUE=theta[0], tauV=theta[1])
        return A @ simulate(m, m.params(v), m.Forcing(par=par), m.initial_state(v)).NEE

    def black_box(p):
        return {"NEE": np.asarray(outputs(jnp.array([p["LUE"], p["tauV"]])))}

    sigma = 2e-4
    y = np.asarray(outputs(jnp.array([0.0025, 1440.0]))) + sigma * np.random.default_rng(0).standard_normal(12)
    loglik = gaussian_loglik(y, sigma)
    priors = {"LUE": dist.Uniform(0.0005, 0.004), "tauV": dist.Uniform(500.0, 3000.0)}

    exact = nuts_on_emulator(priors, loglik, outputs, chains=2, warmup=400, draws=1000, seed=1)
    res = calibrate_external(PythonModel(black_box, ("LUE", "tauV"), key="vsem-test"), priors, loglik, n_design=24,
                             rounds=2, n_add=16, n_correct=500, chains=2, warmup=300, draws=750, processes=1,
                             progress=False, seed=0)
    n_nuts = int(exact["num_steps"].sum())
    assert res.n_exact * 10 <= n_nuts, (res.n_exact, n_nuts)  # >= 10x fewer exact runs (sampling steps only)
    assert res.psis.khat < 0.7, res.psis.khat
    corr = res.psis.summary()
    for k in priors:
        e = exact[k].reshape(-1)
        ess_e = float(az.ess(exact[k]))
        sd = e.std()
        se_mean = sd * np.sqrt(1 / ess_e + 1 / res.psis.ess)
        assert abs(corr[k]["mean"] - e.mean()) < 4 * se_mean, (k, corr[k], e.mean(), se_mean)
        se_sd = np.sqrt(1 / (2 * ess_e) + 1 / (2 * res.psis.ess))
        assert abs(corr[k]["sd"] / sd - 1) < 4 * se_sd, (k, corr[k]["sd"], sd, se_sd)
