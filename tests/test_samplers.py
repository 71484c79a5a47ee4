"""Sampler objects (bayeslsm.infer.samplers): same InferenceData layout, checkpoint/resume, twin recovery."""

from __future__ import annotations

import json
import os
import signal
import warnings

import numpy as np
import pytest

from bayeslsm._compat import import_arviz
from bayeslsm.data.synthetic import weather_generator
from bayeslsm.diagnostics.checks import SamplingWarning
from bayeslsm.infer import Calibration, ChEES, CheckpointError, Laplace, SVI, laplace_fit, twin_experiment
from bayeslsm.infer.samplers import Draws

az = import_arviz()

STREAMS = [{"name": "NEE", "support": "daily",
            "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 0.01}}}]
# GAMMA is fixed: it trades off with LUE at r ~ 0.98 on NEE alone (see tests/test_twin_recovery.py)
FREE = ["LUE", "tauV", "Av"]


def make_twin():
    """The VSEM twin of these tests (also built by the killed subprocess of the resume test)."""
    forcing = weather_generator(years=1, lat=48.0, seed=1, site="twin")
    from bayeslsm.priors import load_catalogue

    # every parameter explicit (fixed ones stay at their catalogue defaults), so `used` holds each truth
    truth = {k: v.default for k, v in load_catalogue("vsem").parameters.items()}
    truth |= {"LUE": 0.0025, "NEE_sigma": 0.0005}
    obs, used = twin_experiment("vsem", forcing, STREAMS, truth, gaps=0.2, seed=1)
    cal = Calibration("vsem", forcing, obs, STREAMS, free=FREE)
    return cal, used


@pytest.fixture(scope="module")
def twin():
    return make_twin()


def _layout(idata):
    return {g: {v: idata[g][v].dims for v in idata[g].data_vars} for g in idata.groups()}


@pytest.fixture(scope="module")
def nuts(twin):
    cal, _ = twin
    with warnings.catch_warnings():  # runs this short may diverge or disagree: only the layout is tested
        warnings.simplefilter("ignore", SamplingWarning)
        return cal.nuts(chains=1, warmup=20, draws=10, seed=0, progress=False, prior_draws=5)


def test_chees_returns_the_nuts_layout(twin, nuts):
    cal, _ = twin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        chees = cal.sample(ChEES(chains=4, warmup=20, draws=10, chunk=5), seed=0, prior_draws=5)
    assert _layout(chees) == _layout(nuts)
    assert chees.posterior["LUE"].shape == (4, 10)
    assert json.loads(chees.posterior.attrs["sampler"])["method"] == "chees"
    assert "sampling_report" in chees.sample_stats.attrs
    # lp is the log density the chains moved on; it must equal the model's at the recorded draws
    assert np.all(np.isfinite(chees.sample_stats["lp"].values))


@pytest.mark.slow
def test_chees_warmup_then_nuts_draws_returns_the_nuts_layout(twin, nuts):
    cal, _ = twin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        idata = cal.sample(ChEES(chains=4, warmup=20, draws=10, chunk=5, kernel="nuts", nuts_warmup=10,
                                 max_doublings=6), seed=0, prior_draws=5)
    assert _layout(idata) == _layout(nuts)
    settings = json.loads(idata.posterior.attrs["sampler"])
    assert settings["kernel"] == "nuts" and settings["max_tree_depth"] == 6
    # NUTS trajectories: 2**depth - 1 leapfrog steps, depth <= max_doublings
    steps = idata.sample_stats["n_steps"].values
    depth = idata.sample_stats["tree_depth"].values
    assert np.all((steps >= 1) & (depth <= 6))
    assert np.all(np.isfinite(idata.sample_stats["lp"].values))


def test_variational_samplers_return_the_nuts_layout(twin, nuts):
    cal, _ = twin
    for sampler in (Laplace(draws=10, steps=50), SVI(draws=10, steps=50)):
        idata = cal.sample(sampler, seed=0, prior_draws=5)
        lay, ref = _layout(idata), _layout(nuts)
        ref.pop("sample_stats")  # variational methods have no transitions
        assert lay == ref, sampler.method


def test_sample_accepts_any_object_with_run(twin):
    """The facade needs only ``run(problem, key) -> Draws``: a sampler that returns the MAP repeated."""
    cal, _ = twin

    class MapOnly:
        method = "map"

        def run(self, problem, key):
            fit = laplace_fit(problem)
            x = np.broadcast_to(np.asarray(fit.mean), (1, 3, problem.dim))
            return Draws(problem.constrain(x), None, {"method": "map"})

    idata = cal.sample(MapOnly(), prior_draws=0)
    assert idata.posterior["LUE"].shape == (1, 3)
    assert float(idata.posterior["LUE"].std()) == 0.0


def _chees(tmp, **kw):
    return ChEES(chains=4, warmup=20, draws=30, chunk=10, checkpoint_dir=str(tmp), **kw)


def test_checkpoint_resume_gives_the_uninterrupted_draws(twin, tmp_path, monkeypatch):
    """Stop after one chunk with SIGINT, resume: identical draws to an uninterrupted run (same key)."""
    import jax

    cal, _ = twin
    problem, key = cal.problem(), jax.random.PRNGKey(3)
    full = _chees(tmp_path / "full").run(problem, key)

    saves = {"n": 0}
    original = ChEES._save

    def save_then_interrupt(self, *args, **kwargs):
        original(self, *args, **kwargs)
        saves["n"] += 1
        if saves["n"] == 2:  # after warm-up and the first chunk
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ChEES, "_save", save_then_interrupt)
    with pytest.warns(UserWarning, match="interrupted"):
        part = _chees(tmp_path / "cut").run(problem, key)
    monkeypatch.setattr(ChEES, "_save", original)
    assert part.settings["interrupted"] and part.samples["LUE"].shape == (4, 10)
    np.testing.assert_array_equal(part.samples["LUE"], full.samples["LUE"][:, :10])

    resumed = _chees(tmp_path / "cut").run(problem, key)
    assert not resumed.settings["interrupted"]
    for k in full.samples:
        np.testing.assert_array_equal(resumed.samples[k], full.samples[k], err_msg=k)
    for k in full.stats:
        np.testing.assert_array_equal(resumed.stats[k], full.stats[k], err_msg=k)
    assert not list((tmp_path / "cut").glob("*.tmp"))  # atomic writes leave no temporary files

    # a checkpoint written by other settings is refused by name
    with pytest.raises(CheckpointError, match="settings"):
        ChEES(chains=4, warmup=20, draws=40, chunk=10, checkpoint_dir=str(tmp_path / "cut")).run(problem, key)


def test_chees_options_are_validated():
    with pytest.raises(ValueError, match="init"):
        ChEES(init="pathfinder-ish")
    with pytest.raises(ValueError, match="chains"):
        ChEES(chains=0)
    with pytest.raises(ValueError, match="kernel"):
        ChEES(kernel="mala")
    with pytest.raises(ValueError, match="max_doublings"):
        ChEES(kernel="nuts", max_doublings=0)


def _covered(idata, truth, names, prob=0.9):
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    out = {}
    for n in names:
        q = idata.posterior[n].quantile([lo, hi], dim=("chain", "draw")).values
        out[n] = bool(q[0] <= truth[n] <= q[1])
    return out


@pytest.mark.slow
def test_every_sampler_recovers_the_vsem_twin(twin):
    """ChEES: R-hat < 1.01, no divergences, truth inside 90 % intervals; Laplace and SVI (independent
    draws, no R-hat): truth inside their 90 % intervals.  NUTS is checked in tests/test_twin_recovery.py."""
    cal, truth = twin
    names = FREE + ["NEE_sigma"]
    # 16 x 400 draws: R-hat of 16 chains of 250 draws scattered up to 1.01 (seeds 0-4 at 400: 1.006-1.008)
    idata = cal.sample(ChEES(chains=16, warmup=150, draws=400), seed=2, prior_draws=0)
    rhat = az.rhat(idata, var_names=names)
    assert max(float(rhat[n]) for n in names) < 1.01
    assert int(idata.sample_stats["diverging"].sum()) == 0
    cov = _covered(idata, truth, names)
    assert all(cov.values()), cov
    # ChEES's warm-up, then NUTS draws (kernel="nuts"). 16 x 800: max R-hat 1.004 / 1.005 / 1.009 at seeds
    # 2 / 0 / 1 (16 x 400: 1.006 / 1.007 / 1.014, tauV's heavy tail); nuts_target_accept 0.9: at the default
    # 0.8 one of 2 400 transitions diverged (8 x 300, seed 2)
    idata = cal.sample(ChEES(chains=16, warmup=150, draws=800, kernel="nuts", nuts_target_accept=0.9), seed=2,
                       prior_draws=0)
    rhat = az.rhat(idata, var_names=names)
    assert max(float(rhat[n]) for n in names) < 1.01
    assert int(idata.sample_stats["diverging"].sum()) == 0
    cov = _covered(idata, truth, names)
    assert all(cov.values()), ("chees+nuts", cov)
    for sampler in (Laplace(draws=400, steps=2000), SVI(draws=400, steps=3000)):
        cov = _covered(cal.sample(sampler, seed=2, prior_draws=0), truth, names)
        assert all(cov.values()), (sampler.method, cov)


_KILLED_RUN = r"""
import os, signal, sys
import bayeslsm  # first: XLA flags and float64
import jax
from bayeslsm.infer import ChEES
sys.path.insert(0, {tests!r})
import test_samplers as ts

cal, _ = ts.make_twin()
original = ChEES._save
saves = {{"n": 0}}

def save_then_die(self, *args, **kwargs):
    original(self, *args, **kwargs)
    saves["n"] += 1
    if saves["n"] == 2:  # after warm-up and the first chunk: no clean-up, no handler runs
        os.kill(os.getpid(), signal.SIGKILL)

ChEES._save = save_then_die
ts._chees({ckpt!r}).run(cal.problem(), jax.random.PRNGKey(3))
"""


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_draws(twin, tmp_path):
    """SIGKILL a sampling process right after its first chunk is saved; resuming in another process gives
    the draws of an uninterrupted run (same settings and key), and no temporary file is left behind."""
    import subprocess
    import sys
    from pathlib import Path

    import jax

    cal, _ = twin
    problem, key = cal.problem(), jax.random.PRNGKey(3)
    full = _chees(tmp_path / "full").run(problem, key)
    script = _KILLED_RUN.format(tests=str(Path(__file__).parent), ckpt=str(tmp_path / "killed"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (tmp_path / "killed" / "chees_state.npz").is_file()
    resumed = _chees(tmp_path / "killed").run(problem, key)
    for k in full.samples:
        np.testing.assert_array_equal(resumed.samples[k], full.samples[k], err_msg=k)
    assert not list((tmp_path / "killed").glob("*.tmp"))


def test_stuck_chains_are_restarted_from_the_others_during_warmup():
    """A chain 200 nats below the others (another, worse-fitting mode) is restarted at another chain's
    state; chains spread as a typical set's log densities are (sd ~ sqrt(dim / 2)) are all kept."""
    import jax
    import jax.numpy as jnp
    from blackjax.mcmc import dynamic_hmc

    from bayeslsm.infer.samplers import _restart_stuck_chains

    rng = np.random.default_rng(0)
    n, d = 16, 5
    lp = -100.0 + np.sqrt(d / 2) * rng.standard_normal(n)
    pos = rng.standard_normal((n, d))
    st = dynamic_hmc.DynamicHMCState(jnp.asarray(pos), jnp.asarray(lp), jnp.asarray(pos * 2.0),
                                     jnp.zeros((n,), dtype=int))
    same, good = _restart_stuck_chains(st, jax.random.PRNGKey(0))
    assert good.all() and np.array_equal(np.asarray(same.position), pos)

    lp_stuck = lp.copy()
    lp_stuck[3] -= 200.0
    st = st._replace(logdensity=jnp.asarray(lp_stuck))
    new, good = _restart_stuck_chains(st, jax.random.PRNGKey(0))
    assert not good[3] and good.sum() == n - 1
    donor = [i for i in range(n) if i != 3 and np.array_equal(np.asarray(new.position)[3], pos[i])]
    assert len(donor) == 1  # a copy of exactly one other chain's position ...
    (i,) = donor
    assert float(new.logdensity[3]) == lp_stuck[i]  # ... with its log density and gradient
    np.testing.assert_array_equal(np.asarray(new.logdensity_grad)[3], pos[i] * 2.0)
    keep = [j for j in range(n) if j != 3]
    np.testing.assert_array_equal(np.asarray(new.position)[keep], pos[keep])  # the others untouched


def _kinked_problem():
    """x ~ N(0, 1) with a ramp penalty 10 * max(x - 5e-5, 0): MAP at 0, curvature there exactly 1, and a
    kink 5e-5 away, inside a finite-difference step of 1e-4 (the land surface models' clips act so)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from bayeslsm.infer.problem import Problem

    def model():
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.factor("ramp", -10.0 * jnp.maximum(x - 5e-5, 0.0))

    return Problem(model)


def test_laplace_hessian_is_exact_where_finite_differences_straddle_a_kink():
    problem = _kinked_problem()
    exact = laplace_fit(problem, hessian="autodiff")
    assert abs(float(exact.mean[0])) < 1e-4  # the MAP, below the kink
    # the exact curvature is 1 (unit Normal), so the Laplace sd is 1; tolerance: L-BFGS's gtol 1e-6
    np.testing.assert_allclose(float(exact.scale[0, 0]) ** 2, 1.0, rtol=1e-4)
    fd = laplace_fit(problem, hessian="fd", fd_step=1e-4)
    # the difference quotient measures the ramp's gradient jump: H ~ (10 + ...) / 2e-4 ~ 5e4, an sd ~ 0.005
    assert float(fd.scale[0, 0]) ** 2 < 1e-3
    # "auto" (the default) sees the two difference quotients disagree and takes the exact Hessian
    np.testing.assert_allclose(float(laplace_fit(problem, hessian="auto").scale[0, 0]) ** 2, 1.0, rtol=1e-4)
    with pytest.raises(ValueError, match="`hessian` must be 'auto', 'autodiff' or 'fd'"):
        laplace_fit(problem, hessian="exact")


def test_laplace_hessian_equals_finite_differences_on_a_smooth_posterior(twin):
    """On the smooth VSEM twin the two Hessians agree (central differences: error O(fd_step^2) ~ 1e-8
    relative, plus L-BFGS noise; 1e-5 relative on the covariance is far above both)."""
    cal, _ = twin
    problem = cal.problem()
    a, f = laplace_fit(problem, hessian="autodiff"), laplace_fit(problem, hessian="fd")
    cov = lambda s: np.asarray(s) @ np.asarray(s).T  # noqa: E731
    np.testing.assert_allclose(cov(a.scale), cov(f.scale), rtol=1e-5, atol=1e-10)
    assert a.n_clipped == f.n_clipped
    from bayeslsm.infer.samplers import _fd_hessian, _fd_is_smooth

    x = np.asarray(f.mean, dtype=float)
    fun = lambda z: tuple(-np.asarray(v, dtype=float) for v in problem.jitted_value_and_grad(z))  # noqa: E731
    assert _fd_is_smooth(_fd_hessian(fun, x, 1e-4), _fd_hessian(fun, x, 1.25e-5))


def test_laplace_starts_far_below_the_map_are_pulled_in():
    from bayeslsm.infer.samplers import _start_floor

    assert _start_floor(None, 10) == -np.inf and _start_floor(float("nan"), 10) == -np.inf
    # dim / 2 + max(20, 6 sqrt(dim / 2)): 2 + 20 for dim 4; 50 + 42.4 for dim 100 (chi-square / 2: mean 50,
    # sd 7.07, so six sd)
    assert _start_floor(-10.0, 4) == pytest.approx(-32.0)
    assert _start_floor(0.0, 100) == pytest.approx(-(50.0 + 6.0 * np.sqrt(50.0)))
    rng = np.random.default_rng(1)
    drops = 0.5 * (rng.standard_normal((10_000, 100)) ** 2).sum(axis=1)
    assert (drops > -_start_floor(0.0, 100)).mean() < 1e-3  # a Gaussian's own Laplace draws are almost never pulled in


def test_collapsed_centred_level_gets_a_non_centred_laplace_start():
    """A centred hierarchy over a parameter the data do not see (tauS: GPP does not depend on it) has a
    degenerate MAP (``tauS_sd_site -> 0``, density unbounded); the start is then made non-centred, where the
    MAP of ``log sd`` under HalfNormal(s) with its log-Jacobian is exactly ``sd = s`` (d/dlog sd of
    ``log sd - sd^2 / (2 s^2)`` vanishes there).  The map back is exact: the change of variables
    ``logp_nc(x) = logp(T(x)) + log|det J_T(x)|`` holds to rounding."""
    import jax
    import jax.numpy as jnp
    import xarray as xr

    from bayeslsm.infer.samplers import collapsed_levels, laplace_start

    sites = ["a", "b", "c"]
    fs = [weather_generator(years=1, lat=45.0, seed=i).isel(time=slice(0, 60)).drop_vars("lat", errors="ignore")
          for i in range(3)]
    forcing = xr.concat(fs, dim="site").assign_coords(site=sites, lat=("site", [45.0] * 3), pft=("site", ["DBF"] * 3))
    streams = [{"name": "GPP", "error": {"kind": "gaussian", "sigma": 0.1}}]
    obs, _ = twin_experiment("vsem", forcing, streams, {"LUE": np.array([0.0018, 0.002, 0.0022])}, seed=1)
    cal = Calibration("vsem", forcing, obs, streams, free=["LUE", "tauS"],
                      hierarchy={"params": ["LUE", "tauS"], "centered": ["tauS"]})
    problem = cal.problem()
    direct = laplace_fit(problem)
    assert collapsed_levels(problem, direct.mean) == ("_z_tauS",)  # the precondition: the plain MAP collapses
    fit, noncentred = laplace_start(problem)
    assert noncentred == ("_z_tauS",)
    sd = float(jnp.exp(problem.unravel(fit.mean)["tauS_sd_site"]))
    assert sd == pytest.approx(cal.hierarchy.site_scale, rel=1e-3)  # L-BFGS gtol 1e-6
    assert not collapsed_levels(problem, fit.mean) and np.isfinite(fit.logdensity)
    other, to_self = problem.noncentred(noncentred)
    x = np.random.default_rng(0).normal(0.0, 0.5, other.dim) + np.asarray(other.x0)
    lhs = float(other.logdensity(jnp.asarray(x)))
    _, logdet = jnp.linalg.slogdet(jax.jacfwd(to_self)(jnp.asarray(x)))
    assert lhs == pytest.approx(float(problem.logdensity(to_self(jnp.asarray(x)))) + float(logdet), abs=1e-8)
    with pytest.raises(ValueError, match="not latent sample sites"):
        problem.noncentred(["_z_KEXT"])
