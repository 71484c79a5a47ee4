"""Spin-up methods: periodic steady state, geometric convergence of cycling, "none", gradients, errors.

Forcing: one year of ``weather_generator(years=1, lat=50, seed=0)`` (site 0), repeated as the spin-up cycle.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from itertools import pairwise

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import model_forcing
from bayeslsm.lsm import DALEC2, VSEM, DALEC2Water, simulate, simulate_final, spinup

spinup_module = importlib.import_module("bayeslsm.lsm.spinup")  # the package re-exports the function

# model, the pools the steady state solves for (the others keep init), slowest pool and its decay per cycle
CASES = {
    "dalec2": (DALEC2(), ("C_roo", "C_woo", "C_lit", "C_som")),
    "dalec2_water": (DALEC2Water(water_stress=True), ("C_roo", "C_woo", "C_lit", "C_som")),
    "vsem": (VSEM(), ("Cv", "Cs", "Cr")),
}


@pytest.fixture(scope="module")
def weather():
    return weather_generator(years=1, lat=50.0, seed=0)


def _setup(name, weather):
    model, pools = CASES[name]
    forcing = jax.tree.map(lambda a: jnp.asarray(a[0]), model_forcing(model, weather))
    return model, pools, forcing, model.params(model.DEFAULTS), model.initial_state(model.DEFAULTS)


def _rel_change(a, b, fields):
    return {k: abs(float(getattr(b, k)) - float(getattr(a, k))) / abs(float(getattr(a, k))) for k in fields}


def _next(model, params, forcing, state):
    return simulate_final(model, params, forcing, state)[0]


# (a) ----------------------------------------------------------------------------------------------------
# The steady state x* solves Φ(x) = x for the one-cycle map Φ of the linear pools.  DALEC2's pools enter Φ
# affinely, so one Newton step is exact up to rounding: 365 steps of ~eps each, amplified by
# cond(I − J) ≈ 1/(1 − 0.964) ≈ 30 for wood: ~1e-12 at most (measured ≤ 1.8e-15; VSEM after its five
# Newton steps ≤ 8e-16).  PERIODIC_RTOL = 1e-10 is far below the mean-rate closed form used before
# (litter moved 12 % in the next cycle) and below anything but a converged solve.
PERIODIC_RTOL = 1.0e-10
# Lower side, showing that spin-up matters: from the catalogue's initial pools one cycle moves every linear
# pool by ≥ 7.5e-3 (DALEC2 wood; 1e-2 ... 0.5 for the others) and the steady state lies ≥ 21 % from them.
FROM_INIT_MIN_CHANGE = 1.0e-3
FROM_INIT_MIN_DISTANCE = 0.1


@pytest.mark.parametrize("name", list(CASES))
def test_steady_state_is_periodic(name, weather):
    model, pools, forcing, params, init = _setup(name, weather)
    state = spinup(model, params, forcing, init, method="steady_state")
    change = _rel_change(state, _next(model, params, forcing, state), pools)
    assert max(change.values()) <= PERIODIC_RTOL, change
    from_init = _rel_change(init, _next(model, params, forcing, init), pools)
    assert min(from_init.values()) >= FROM_INIT_MIN_CHANGE, from_init
    distance = _rel_change(init, state, pools)
    assert min(distance.values()) >= FROM_INIT_MIN_DISTANCE, distance
    for k in set(model.State._fields) - set(pools):  # pools not solved for keep their init values
        assert float(getattr(state, k)) == float(getattr(init, k)), k


def test_steady_state_is_the_limit_of_cycling(weather):
    """DALEC2: with the fast pools on their periodic orbit, the steady state equals 1500 cycles of forcing.

    Labile and foliage converge at ~0.6 per cycle and do not depend on the linear pools; wood, the slowest
    linear pool, at (1 − theta_woo)^365 = 0.964, so 1500 cycles leave 0.964^1500 ≈ 1e-24 of the initial
    distance: the two agree to rounding (1e-10 relative allows ~1500·365 steps of accumulated eps).
    """
    model, pools, forcing, params, init = _setup("dalec2", weather)
    brute = spinup(model, params, forcing, init, method="cycle", n_cycles=1500)
    start = init._replace(C_lab=brute.C_lab, C_fol=brute.C_fol)  # linear pools from the catalogue
    solved = spinup(model, params, forcing, start, method="steady_state")
    diff = _rel_change(brute, solved, pools)
    assert max(diff.values()) <= 1.0e-10, diff
    assert max(_rel_change(brute, start, pools).values()) >= FROM_INIT_MIN_DISTANCE  # wood, SOM: 34 %, 78 %


# (b) ----------------------------------------------------------------------------------------------------
# Cycling is a contraction: the change per cycle decays geometrically, asymptotically at the rate of the
# slowest linear pool, (1 − k)^365 per cycle (DALEC2 wood: 0.96369; VSEM soil: 0.98675).  Estimated from
# cycles 16 → 32 the rate is 0.96371 (DALEC2) and 0.98759 (VSEM, whose vegetation pool still contributes
# ~0.79^16), within RATE_TOL = 2e-3 of the prediction; a stalled or algebraic convergence gives ≈ 1.
RATE_TOL = 2.0e-3
SLOWEST = {
    "dalec2": ("C_woo", lambda p: (1.0 - p.theta_woo) ** 365),
    "vsem": ("Cs", lambda p: (1.0 - 1.0 / p.tauS) ** 365),
}


@pytest.mark.parametrize("name", ["dalec2", "vsem"])
def test_cycling_converges_geometrically(name, weather):
    model, _, forcing, params, init = _setup(name, weather)
    ns = (1, 2, 4, 8, 16, 32)
    max_change, slow_change = [], []
    slow, rate = SLOWEST[name]
    for n in ns:
        state = spinup(model, params, forcing, init, method="cycle", n_cycles=n)
        nxt = _next(model, params, forcing, state)
        max_change.append(max(_rel_change(state, nxt, model.State._fields).values()))
        slow_change.append(abs(float(getattr(nxt, slow)) - float(getattr(state, slow))))
    assert all(b < a for a, b in pairwise(max_change)), max_change
    measured = (slow_change[-1] / slow_change[-2]) ** (1.0 / 16.0)
    assert abs(measured - float(rate(params))) <= RATE_TOL, (measured, float(rate(params)))
    # cycle(n) is n passes of simulate: two passes by hand agree to rounding
    twice = _next(model, params, forcing, _next(model, params, forcing, init))
    via = spinup(model, params, forcing, init, method="cycle", n_cycles=2)
    assert max(_rel_change(twice, via, model.State._fields).values()) <= 1.0e-13


# (c) ----------------------------------------------------------------------------------------------------
def test_none_returns_init_unchanged(weather):
    model, _, forcing, params, init = _setup("dalec2", weather)
    assert spinup(model, params, forcing, init, method="none") is init


# (d) ----------------------------------------------------------------------------------------------------
# ∂L/∂θ through "steady_state+cycle" (n_cycles=2) against a five-point central difference with
# h = 1e-4·|x| (truncation O(h⁴) ~ 1e-14 relative).  The steady state amplifies the rounding noise of L
# (solving with I − J), so the noise term dominates: measured ≤ 4.7e-7 (theta_woo, whose gradient is the
# weakest, |x·∂L/∂x| = 2.6e-4·|L|).  SPINUP_FD_RTOL = 1e-5 is 20× that.
SPINUP_FD_RTOL = 1.0e-5


def _five_point(f, x, h):
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


def test_gradient_through_spinup_matches_finite_differences(weather):
    model, _, forcing, params, init = _setup("dalec2", weather)

    def nee(p):
        start = spinup(model, p, forcing, init, method="steady_state+cycle", n_cycles=2)
        return simulate(model, p, forcing, start).NEE

    truth = jax.tree.map(lambda x: 1.05 * x, params)
    obs = np.asarray(nee(truth)) + 0.5 * np.random.default_rng(1).standard_normal(forcing.tmin.shape[0])
    loglik = jax.jit(lambda p: jnp.sum(norm.logpdf(obs, nee(p), 0.5)))
    grad = jax.jit(jax.grad(loglik))(params)
    for name in ("theta_som", "theta_woo", "f_auto", "ceff"):
        x = float(getattr(params, name))
        fd = _five_point(lambda v, n=name: float(loglik(params._replace(**{n: jnp.float64(v)}))), x, 1.0e-4 * abs(x))
        ad = float(getattr(grad, name))
        assert abs(fd - ad) <= SPINUP_FD_RTOL * abs(ad), (name, ad, fd)
        assert ad != 0.0


# VSEM's steady state is nonlinear (five Newton steps, the last one carrying the implicit gradient).  The
# derivative of the steady-state pools against a five-point difference with h = 1e-3·|x| (truncation
# h⁴·f⁽⁵⁾/30, measured ≤ 3e-9): VSEM_SS_RTOL = 1e-8.  Taking the gradient step one Newton step early, from a
# point with residual 4e-8, gives errors of 5e-8 ... 7e-7 (checked below), so the test sees that mistake.
VSEM_SS_RTOL = 1.0e-8


@pytest.mark.parametrize("newton_steps, ok", [(5, True), (4, False)])
def test_vsem_steady_state_derivative_is_implicit(weather, newton_steps, ok):
    model, pools, forcing, params, init = _setup("vsem", weather)
    worst = 0.0
    for name in ("KEXT", "LUE", "GAMMA", "tauV", "tauS", "Av"):

        def pools_at(v, name=name):
            p = params._replace(**{name: v})
            return jnp.stack(spinup_module._steady_state(model, p, forcing, init, pools, newton_steps))

        x = getattr(params, name)
        ad = np.asarray(jax.jacfwd(pools_at)(x))
        fd = np.asarray(_five_point(pools_at, x, 1.0e-3 * abs(x)))
        # per pool, relative to the derivative or, where that is ~0 (Cv does not depend on tauS), to the
        # sensitivity 1e-3·C*/x
        scale = np.maximum(np.abs(ad), 1.0e-3 * np.abs(np.asarray(pools_at(x))) / abs(float(x)))
        worst = max(worst, float(np.max(np.abs(fd - ad) / scale)))
    assert (worst <= VSEM_SS_RTOL) == ok, worst


# (e) ----------------------------------------------------------------------------------------------------
def test_bad_arguments_are_named(weather):
    model, _, forcing, params, init = _setup("vsem", weather)
    with pytest.raises(ValueError, match="`method`.*'bogus'"):
        spinup(model, params, forcing, init, method="bogus")
    for method in ("cycle", "steady_state+cycle"):
        for n in (0, -1, 2.5, True):
            with pytest.raises(ValueError, match="`n_cycles`"):
                spinup(model, params, forcing, init, method=method, n_cycles=n)

    @dataclass(frozen=True)
    class Unregistered(VSEM):
        name = "vsem_unregistered"

    with pytest.raises(ValueError, match="`method` 'steady_state'.*vsem_unregistered.*method='cycle'"):
        spinup(Unregistered(), params, forcing, init, method="steady_state")
    # cycling needs no registration
    state = spinup(Unregistered(), params, forcing, init, method="cycle", n_cycles=1)
    assert np.isfinite(float(state.Cs))
