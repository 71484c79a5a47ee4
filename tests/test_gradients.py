"""Differentiability of the process models: AD against finite differences, forward against reverse mode,
no retrace when only values change, and vmap over sites against per-site runs.

Objective: L(params, init) = Σ_t log N(obs_t | y_t(params, init), σ) over one year of synthetic forcing
(``weather_generator(years=1, lat=50, seed=0)``) with y = NEE (and LE for DALEC2Water), the pseudo-
observations being the model at every parameter ×1.05 and every initial pool ×0.95 plus fixed Gaussian
noise of sd σ, so that the residuals, and hence the gradients, are of order one.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import model_forcing
from bayeslsm.lsm import DALEC2, VSEM, DALEC2Water, simulate, simulate_sites

# Observation error sd per stream: ~10 % of the daily range of NEE (VSEM in kg C, DALEC2 in g C) and
# 10 W m-2 for LE, the order of eddy-covariance random errors.
STREAMS = {
    "vsem": {"NEE": 1.0e-3},
    "dalec2": {"NEE": 0.5},
    "dalec2_water": {"NEE": 0.5, "LE": 10.0},
}
MODELS = {"vsem": VSEM(), "dalec2": DALEC2(), "dalec2_water": DALEC2Water(water_stress=True)}

# Central differences with h = REL_STEP·|x|.  Truncation error h²·L'''/6 is ~1e-12 relative (|x·L'''/L'|
# is at most ~(x/width)² ~ 15 for the phenology days, whose Gaussians are ~30 d wide); the roundoff error is
# ~eps·Σ|log-density terms|/h ≈ 2e-10·c·|L|/|x| with c = Σ|terms|/|L| ≈ 1-2 here.  Relative to a gradient
# of size |L|/|x| (a relative change of x moving L by its own size) that is ~4e-10; the weakest leaves
# have |x·∂L/∂x| ≈ 1e-3·|L|, where it is ~4e-7 (measured worst: 1.8e-7, VSEM's Cr).  FD_RTOL = 1e-5 leaves
# a factor ~50 above that and is far below what a wrong derivative gives (≥ 1e-3).  The tolerance is
# FD_RTOL·max(|∂L/∂x|, SCALE_FLOOR·|L|/|x|): the floor covers leaves whose gradient is exactly zero
# (DALEC2Water's k_drain); every other leaf must have |∂L/∂x| ≥ 0.1·floor (measured ≥ 0.79·floor, for
# theta_woo and tauR), so its effective relative tolerance is at most 1e-4.
REL_STEP = 1.0e-6
FD_RTOL = 1.0e-5
SCALE_FLOOR = 1.0e-3
# Forward and reverse mode differentiate the same float64 program and differ only in the order in which
# the 365 daily contributions are accumulated: ~365·eps·(condition) ≈ 1e-13 (measured ≤ 1.4e-14).
MODE_RTOL = 1.0e-10
# Leaves that cannot move the objective: k_drain only splits the water above capacity between drainage and
# runoff, neither of which feeds NEE or LE (both AD and FD are exactly 0, checked below).
ZERO_GRADIENT = {"dalec2_water": {"p.k_drain"}}


@pytest.fixture(scope="module")
def weather():
    return weather_generator(years=1, lat=50.0, seed=0)


def _site(forcing, i=0):
    return jax.tree.map(lambda a: jnp.asarray(a[i]), forcing)


def _problem(name, weather):
    """Model, site-0 forcing, (params, init) at the catalogue defaults, and jitted (L, branch signature)."""
    model = MODELS[name]
    forcing = _site(model_forcing(model, weather))
    params, init = model.params(model.DEFAULTS), model.initial_state(model.DEFAULTS)
    truth = simulate(model, jax.tree.map(lambda x: 1.05 * x, params), forcing,
                     jax.tree.map(lambda x: 0.95 * x, init))
    rng = np.random.default_rng(1)
    obs = {k: np.asarray(getattr(truth, k)) + sd * rng.standard_normal(forcing_len(forcing))
           for k, sd in STREAMS[name].items()}

    def loglik(theta):
        out = simulate(model, theta[0], forcing, theta[1])
        return sum(jnp.sum(norm.logpdf(obs[k], getattr(out, k), sd)) for k, sd in STREAMS[name].items())

    def branches(theta):
        """Which side of every parameter-dependent kink each day is on (DALEC2Water's min/max/clip)."""
        out = simulate(model, theta[0], forcing, theta[1])
        sig = [out.LAI > 0]
        if name == "dalec2_water":
            w_max = theta[0].W_max
            sig += [out.beta < 1, out.beta > 0, out.W_end < w_max, out.W_end > 0, out.Rn > 0]
        return jnp.stack(sig)

    return model, forcing, (params, init), jax.jit(loglik), jax.jit(branches)


def forcing_len(forcing):
    return jax.tree_util.tree_leaves(forcing)[0].shape[0]


def _leaf_names(theta):
    params, init = theta
    return [f"p.{n}" for n in params._fields] + [f"s.{n}" for n in init._fields]


@pytest.mark.parametrize("name", list(MODELS))
def test_grad_matches_central_differences(name, weather):
    _, _, theta, loglik, branches = _problem(name, weather)
    grad = jax.jit(jax.grad(loglik))(theta)
    leaves, treedef = jax.tree.flatten(theta)
    ad_leaves = jax.tree.leaves(grad)
    names = _leaf_names(theta)
    l0 = float(loglik(theta))
    sig0 = np.asarray(branches(theta))
    zero = ZERO_GRADIENT.get(name, set())
    failures = []
    for i, (x, ad, leaf) in enumerate(zip(leaves, ad_leaves, names)):
        x, ad = float(x), float(ad)
        h = REL_STEP * abs(x)
        plus, minus = list(leaves), list(leaves)
        plus[i], minus[i] = jnp.float64(x + h), jnp.float64(x - h)  # strong type: no retrace
        plus, minus = jax.tree.unflatten(treedef, plus), jax.tree.unflatten(treedef, minus)
        # Central differences are only valid where no kink lies within ±h: same branch on every day.
        assert np.array_equal(np.asarray(branches(plus)), sig0), f"{leaf}: a kink lies within +h"
        assert np.array_equal(np.asarray(branches(minus)), sig0), f"{leaf}: a kink lies within -h"
        fd = (float(loglik(plus)) - float(loglik(minus))) / (2.0 * h)
        scale = SCALE_FLOOR * abs(l0) / abs(x)
        if leaf in zero:
            assert ad == 0.0 and fd == 0.0, f"{leaf}: expected an exactly zero gradient, got ad={ad}, fd={fd}"
            continue
        # the check stays (nearly) relative for every other leaf
        assert abs(ad) > 0.1 * scale, f"{leaf}: gradient {ad:.3g} far below the floor {scale:.3g}; check is void"
        if abs(fd - ad) > FD_RTOL * max(abs(ad), scale):
            failures.append(f"{leaf}: ad={ad:.10g} fd={fd:.10g} rel={abs(fd - ad) / abs(ad):.2e}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_mode_equals_reverse_mode(name, weather):
    _, _, theta, loglik, _ = _problem(name, weather)
    rev = jax.tree.leaves(jax.jit(jax.grad(loglik))(theta))
    fwd = jax.tree.leaves(jax.jit(jax.jacfwd(loglik))(theta))
    l0 = float(loglik(theta))
    for leaf, x, r, f in zip(_leaf_names(theta), jax.tree.leaves(theta), rev, fwd):
        scale = SCALE_FLOOR * abs(l0) / abs(float(x))
        assert abs(float(f) - float(r)) <= MODE_RTOL * max(abs(float(r)), scale), (leaf, float(f), float(r))


@pytest.mark.parametrize("name", list(MODELS))
def test_no_retrace_when_only_values_change(name, weather):
    traces = []
    base = type(MODELS[name])

    # A fresh subclass per test: its own entry in simulate's jit cache, and a counter in prepare, which
    # runs once per trace of simulate (never at execution time).
    @dataclass(frozen=True)
    class Counting(base):
        def prepare(self, params, forcing):
            traces.append(1)
            return super().prepare(params, forcing)

    model = Counting()
    forcing = _site(model_forcing(model, weather))
    params, init = model.params(model.DEFAULTS), model.initial_state(model.DEFAULTS)
    outs = []
    for factor in (1.0, 1.01, 0.97):
        p = jax.tree.map(lambda x, f=factor: x * f, params)
        s = jax.tree.map(lambda x, f=factor: x * (2.0 - f), init)
        outs.append(np.asarray(simulate(model, p, forcing, s).NEE))
    assert len(traces) == 1
    assert not np.array_equal(outs[0], outs[1])  # the values did reach the compiled function
    short = jax.tree.map(lambda a: a[:200], forcing)
    simulate(model, params, short, init)
    assert len(traces) == 2  # a new forcing length is a new shape: one more trace


# vmap batches the per-site arithmetic, and XLA fuses multiply-adds differently in the batched loop, so the
# results are not bit-identical: measured ≤ 1.1e-14 relative to each output's largest value on one year; 1e-11 allows
# for error growth over the scan and is far below any real site mix-up (≥ 1e-3).
VMAP_RTOL = 1.0e-11


@pytest.mark.parametrize("shared_params", [False, True])
@pytest.mark.parametrize("name", list(MODELS))
def test_simulate_sites_equals_per_site_runs(name, shared_params):
    model = MODELS[name]
    sites = [model_forcing(model, weather_generator(years=1, lat=lat, seed=seed))
             for lat, seed in ((50.0, 0), (35.0, 1), (62.0, 2))]
    forcing = jax.tree.map(lambda *a: jnp.concatenate([jnp.asarray(x) for x in a]), *sites)
    params, init = model.params(model.DEFAULTS), model.initial_state(model.DEFAULTS)
    factors = jnp.array([1.0, 1.03, 0.96])
    if shared_params:
        p_sites, axis = params, None
    else:
        p_sites, axis = jax.tree.map(lambda x: x * factors, params), 0
    s_sites = jax.tree.map(lambda x: x * factors[::-1], init)
    batched = simulate_sites(model, p_sites, forcing, s_sites, params_axis=axis)
    for i in range(3):
        p_i = params if shared_params else jax.tree.map(lambda x, i=i: x[i], p_sites)
        single = simulate(model, p_i, _site(forcing, i), jax.tree.map(lambda x, i=i: x[i], s_sites))
        for field in model.Outputs._fields:
            a, b = np.asarray(getattr(batched, field))[i], np.asarray(getattr(single, field))
            assert a.shape == b.shape == (forcing_len(_site(forcing)),)
            assert np.max(np.abs(a - b)) <= VMAP_RTOL * max(np.max(np.abs(b)), 1e-300), (field, i)
    # the sites differ (so a broadcast of site 0 would fail the comparison above)
    assert np.max(np.abs(np.asarray(batched.NEE[1]) - np.asarray(batched.NEE[0]))) > 1e-3 * np.max(
        np.abs(np.asarray(batched.NEE[0])))
