"""Spin-up: how the pools at the start of the assimilation window are obtained.

Spin-up is an explicit choice, never a magic slice of the forcing (Raoult et al. 2025,
doi:10.1029/2024MS004733, list spin-up inside the assimilation window among the hard parts of LSM
calibration).  Three methods, all differentiable with respect to the parameters:

``"steady_state"``
    Analytic steady state of the *linear* pools under mean forcing.  The model is run once over the
    window from ``init``; the time-mean inputs ``I`` and time-mean first-order loss rates ``k`` of each
    linear pool then give ``C* = mean(I) / mean(k)`` in closed form (e.g. Xia et al. 2012,
    doi:10.5194/gmd-5-1259-2012, semi-analytic spin-up).  Fast pools driven by phenology (labile,
    foliage) and the water bucket keep their ``init`` values.
``"cycle"``
    Repeat the forcing window ``n_cycles`` times (a :func:`jax.lax.scan` over cycles), starting from
    ``init``, and return the state at the end of the last cycle.
``"steady_state+cycle"``
    The analytic steady state followed by ``n_cycles`` cycles to let the non-linear pools settle.
``"none"``
    Use ``init`` as given; with initial pools as free parameters this is spin-up option (c).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp

from bayeslsm.lsm.core import simulate_final

__all__ = ["SPINUP_METHODS", "spinup", "cycle", "steady_state", "register_steady_state"]

SPINUP_METHODS = ("none", "steady_state", "cycle", "steady_state+cycle")

_STEADY_STATE: dict[str, Callable[[Any, Any, Any, Any], Any]] = {}


def register_steady_state(model_name: str):
    """Decorator registering the closed-form steady state for a model ``name``."""

    def deco(fn):
        _STEADY_STATE[model_name] = fn
        return fn

    return deco


@partial(jax.jit, static_argnums=(0, 4))
def cycle(model, params, forcing, init, n_cycles: int):
    """State after running the forcing window ``n_cycles`` times from ``init``."""

    def one(state, _):
        final, _ = simulate_final(model, params, forcing, state)
        return final, None

    final, _ = jax.lax.scan(one, init, None, length=n_cycles)
    return final


@partial(jax.jit, static_argnums=0)
def steady_state(model, params, forcing, init):
    """Analytic steady state of the model's linear pools under the window's mean forcing."""
    try:
        fn = _STEADY_STATE[model.name]
    except KeyError:
        raise ValueError(
            f"spin-up method 'steady_state' is not available for model {model.name!r}; "
            f"available for {sorted(_STEADY_STATE)}; use method='cycle' instead"
        ) from None
    _, outputs = simulate_final(model, params, forcing, init)
    return fn(model, params, outputs, init)


def spinup(model, params, forcing, init, method: str = "steady_state+cycle", n_cycles: int = 5):
    """Return the state at the start of the window after spin-up.

    Parameters
    ----------
    model
        Process model instance.
    params
        ``model.Params``.
    forcing
        ``model.Forcing`` of the spin-up window (usually the calibration window or a climatology).
    init
        ``model.State`` to start from (the catalogue's initial pools or sampled pools).
    method
        One of :data:`SPINUP_METHODS`.
    n_cycles
        Number of forcing cycles for the ``cycle`` methods (static: changing it recompiles).

    Returns
    -------
    model.State
    """
    if method not in SPINUP_METHODS:
        raise ValueError(f"`method` must be one of {SPINUP_METHODS}; got {method!r}")
    if method == "none":
        return init
    state = init
    if method.startswith("steady_state"):
        state = steady_state(model, params, forcing, state)
    if method.endswith("cycle"):
        if int(n_cycles) < 1:
            raise ValueError(f"`n_cycles` must be >= 1 for method {method!r}; got {n_cycles}")
        state = cycle(model, params, forcing, state, int(n_cycles))
    return state


# --- closed forms -------------------------------------------------------------------------------


@register_steady_state("vsem")
def _vsem_steady(model, params, out, init):
    """VSEM: with mean NPP, Cv* = Av·NPP·tauV, Cr* = (1−Av)·NPP·tauR, Cs* = (Cv*/tauV + Cr*/tauR)·tauS."""
    npp = jnp.mean((1.0 - params.GAMMA) * out.GPP)
    cv = params.Av * npp * params.tauV
    cr = (1.0 - params.Av) * npp * params.tauR
    cs = (cv / params.tauV + cr / params.tauR) * params.tauS
    return init._replace(Cv=cv, Cr=cr, Cs=cs)


def _dalec_linear_pools(params, out, init):
    """DALEC2 roots, wood, litter and SOM at steady state under mean allocation and mean τ.

    With daily steps the losses are first order, F = C·k (DALEC_REFERENCE §4.6), so
    C_roo* = Ā_roo/θ_roo, C_woo* = Ā_woo/θ_woo,
    C_lit* = (L̄_fol + Ā_roo) / (τ̄ (θ_lit + θ_min)), C_som* = (τ̄ θ_min C_lit* + Ā_woo) / (τ̄ θ_som).
    """
    tau = jnp.mean(out.f02_temprate)
    a_roo = jnp.mean(out.f06_alloc_roo)
    a_woo = jnp.mean(out.f07_alloc_woo)
    l_fol = jnp.mean(out.f10_leaf_litter)
    c_roo = a_roo / params.theta_roo
    c_woo = a_woo / params.theta_woo
    c_lit = (l_fol + a_roo) / (tau * (params.theta_lit + params.theta_min))
    c_som = (tau * params.theta_min * c_lit + a_woo) / (tau * params.theta_som)
    return init._replace(C_roo=c_roo, C_woo=c_woo, C_lit=c_lit, C_som=c_som)


for _name in ("dalec2", "dalec2_water"):
    register_steady_state(_name)(lambda model, params, out, init: _dalec_linear_pools(params, out, init))
