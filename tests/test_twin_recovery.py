"""Twin experiments: NUTS recovers known parameters and injected bias (statistical, fixed seeds).

Criteria (issue "Bayesian calibration core"): R-hat < 1.01, no divergences, true values inside the
central 90 % intervals for at least 85 % of free parameters across the seeds tested, injected bias
recovered, weakly observed sites shrink towards their PFT mean.  Each case is sized to run in well
under a minute on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayeslsm._compat import import_arviz
from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import Calibration, twin_experiment
from bayeslsm.priors import load_catalogue

az = import_arviz()
pytestmark = pytest.mark.slow


def _covered(idata, truth: dict, names, prob=0.9):
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    out = []
    for n in names:
        draws = idata.posterior[n]
        q = draws.quantile([lo, hi], dim=("chain", "draw")).values
        t = np.broadcast_to(np.asarray(truth[n], dtype=float), q.shape[1:])
        out.extend(((q[0] <= t) & (t <= q[1])).ravel().tolist())
    return out


def _check_sampler(idata, names):
    rhat = az.rhat(idata, var_names=list(names))
    assert max(float(rhat[n].max()) for n in names) < 1.01
    assert int(idata.sample_stats["diverging"].sum()) == 0


def _defaults(model):
    return {k: v.default for k, v in load_catalogue(model).parameters.items()}


def test_vsem_recovery_two_seeds():
    streams = [{"name": "NEE", "support": "daily",
                "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 0.01}}}]
    free = ["LUE", "tauV", "tauS", "Av"]
    covered = []
    for seed in (1, 2):
        forcing = weather_generator(years=2, lat=48.0, seed=seed)
        truth = _defaults("vsem") | {"LUE": 0.0025, "NEE_sigma": 0.0005}  # fixed parameters stay at defaults
        obs, truth = twin_experiment("vsem", forcing, streams, truth, gaps=0.2, seed=seed)
        # GAMMA is fixed: it is ~0.98 correlated with LUE on NEE alone (with a diagonal mass matrix 16 % of
        # transitions saturated the tree depth, and bayeslsm said so).  KEXT is fixed too: with KEXT free,
        # 3-7 of 2800 transitions diverged (LUE~KEXT~Av trade off on NEE alone).  tauV and Av stay
        # weakly identified, hence 1200 draws per chain for R-hat < 1.01 (measured 1.006 and 1.008).
        idata = Calibration("vsem", forcing, obs, streams, free=free).nuts(
            chains=4, warmup=500, draws=1200, seed=seed, progress=False, prior_draws=0, dense_mass=True,
            target_accept=0.9)
        _check_sampler(idata, free)
        covered += _covered(idata, truth, free + ["NEE_sigma"])
    assert np.mean(covered) >= 0.85, covered


DALEC_STREAMS = [
    {"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 1.0}}},
    {"name": "LAI", "support": "8D", "error": {"kind": "gaussian", "sigma": 0.1}},
]
DALEC_FREE = ["ceff", "clma", "Theta", "theta_lit", "d_fall", "crfall"]


def test_dalec2_recovery_two_seeds():
    covered = []
    for seed in (3, 4):
        forcing = weather_generator(years=2, lat=50.0, seed=seed)
        truth = _defaults("dalec2") | {"ceff": 45.0, "NEE_sigma": 0.5}
        obs, truth = twin_experiment("dalec2", forcing, DALEC_STREAMS, truth, gaps=0.2, seed=seed)
        cal = Calibration("dalec2", forcing, obs, DALEC_STREAMS, free=DALEC_FREE)
        # d_fall (leaf-fall date) under a flat prior over one year has a second, much poorer mode near the
        # year's start (d_fall ~ 0, crfall ~ 150 d, NEE sigma ~ 0.77 instead of 0.5): started from prior
        # medians, one chain of seed 3 stayed there (R-hat 1.5, and bayeslsm's "chains disagree" warning
        # named it).  The usual remedy: start the chains from a short MAP fit.
        fit = cal.laplace(draws=100, steps=1500, prior_draws=0)
        start = {n: float(fit.posterior[n].median()) for n in DALEC_FREE}
        idata = cal.nuts(chains=4, warmup=300, draws=300, seed=seed, progress=False, prior_draws=0,
                         dense_mass=True, target_accept=0.9, init_values=start)
        _check_sampler(idata, DALEC_FREE)
        covered += _covered(idata, truth, DALEC_FREE + ["NEE_sigma"])
    assert np.mean(covered) >= 0.85, covered


def test_dalec2_water_recovers_multiplicative_le_bias():
    streams = [
        {"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": 0.5}},
        {"name": "LE", "support": "daily", "bias": {"kind": "multiplicative"},
         "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 10.0}}},
        {"name": "LAI", "support": "8D", "error": {"kind": "gaussian", "sigma": 0.1}},
    ]
    free = ["ceff", "clma", "Theta", "g_max"]
    forcing = weather_generator(years=2, lat=50.0, seed=7)
    truth = _defaults("dalec2_water") | {"LE_bias_mult": 1.2, "LE_sigma": 5.0}
    obs, truth = twin_experiment("dalec2_water", forcing, streams, truth, gaps=0.2, seed=7)
    idata = Calibration("dalec2_water", forcing, obs, streams, free=free).nuts(
        chains=4, warmup=300, draws=300, seed=7, progress=False, prior_draws=0, dense_mass=True)
    _check_sampler(idata, free + ["LE_bias_mult"])
    cov = _covered(idata, truth, free + ["LE_bias_mult", "LE_sigma"])
    assert np.mean(cov) >= 0.85, cov
    # the bias is recovered: its 90 % interval excludes "no bias" (1.0) and contains the truth
    q05, q95 = idata.posterior["LE_bias_mult"].quantile([0.05, 0.95]).values
    assert q05 > 1.0 and q05 <= 1.2 <= q95


def test_hierarchy_shrinks_weakly_observed_site_towards_pft_mean():
    """Three DBF sites; the third has 10 NEE days. Its ceff posterior is pulled towards the PFT mean
    and is wider than the well-observed sites' (partial pooling), compared with the unpooled fit of
    the same data."""
    sites = ["a", "b", "c"]
    fs = [weather_generator(years=1, lat=45.0 + 3 * i, seed=10 + i) for i in range(3)]
    forcing = xr.concat([f.drop_vars("lat") for f in fs], dim="site").assign_coords(
        site=sites, lat=("site", [45.0, 48.0, 51.0]), pft=("site", ["DBF"] * 3))
    streams = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": 0.5}},
               {"name": "LAI", "support": "8D", "error": {"kind": "gaussian", "sigma": 0.1}}]
    truth = _defaults("dalec2") | {"ceff": np.array([40.0, 44.0, 30.0])}
    obs, _ = twin_experiment("dalec2", forcing, streams, truth, seed=11)
    keep = np.zeros(obs.sizes["time"], bool)
    keep[150:160] = True
    obs["NEE"][2] = obs["NEE"][2].where(keep)
    obs["LAI"][2] = obs["LAI"][2] * np.nan
    cal = Calibration("dalec2", forcing, obs, streams, free=["ceff"], hierarchy={"params": ["ceff"]})
    idata = cal.nuts(chains=4, warmup=300, draws=300, seed=12, progress=False, prior_draws=0, target_accept=0.95)
    _check_sampler(idata, ["ceff"])
    post = idata.posterior
    sd = post["ceff"].std(("chain", "draw")).values
    assert sd[2] > 1.5 * max(sd[0], sd[1])  # weakly observed site: wider posterior
    pft_mean = float(post["ceff_pft"].mean())
    m = post["ceff"].mean(("chain", "draw")).values
    # shrinkage: the weak site's partially pooled estimate is closer to the PFT mean than its
    # unpooled estimate from the same data
    unpooled = Calibration("dalec2", forcing, obs, streams, free=["ceff"],
                           hierarchy={"params": ["ceff"], "mode": "unpooled"})
    idata_u = unpooled.nuts(chains=4, warmup=300, draws=300, seed=12, progress=False, prior_draws=0,
                            target_accept=0.95)
    m_u = idata_u.posterior["ceff"].mean(("chain", "draw")).values
    assert abs(m[2] - pft_mean) < abs(m_u[2] - pft_mean)
    # well-observed sites barely move (their data dominate): within 1 posterior sd of unpooled
    assert np.all(np.abs(m[:2] - m_u[:2]) < sd[:2])
