"""Model protocol and the one time loop shared by every process model.

A process model is a frozen (hashable) dataclass holding only *static* configuration, with:

``Params``, ``State``, ``Forcing``, ``Outputs``
    ``NamedTuple`` classes.  Parameters travel by name; no positional vectors.
``prepare(params, forcing) -> drivers``
    Everything that depends on parameters and forcing but not on the state, computed vectorised over
    the whole time axis before the loop (e.g. phenology clocks, temperature factors, day length).
    Moving this work out of the scan is what makes the loop cheap.
``step(state, drivers_t, params) -> (state, outputs_t)``
    One day.  Pure, no Python branching on traced values.
``initial_state(values) -> State``
    Build a state from a mapping of initial-pool values (used by the CLI and the inference layer).

:func:`simulate` is a single :func:`jax.lax.scan` over time; several sites are a :func:`jax.vmap` of
it (:func:`simulate_sites`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

__all__ = ["ProcessModel", "simulate", "simulate_sites", "simulate_final", "time_length"]


class ProcessModel(Protocol):
    name: str
    Params: type
    State: type
    Forcing: type
    Outputs: type

    def prepare(self, params: Any, forcing: Any) -> Any: ...

    def step(self, state: Any, drivers_t: Any, params: Any) -> tuple[Any, Any]: ...


def time_length(forcing: NamedTuple) -> int:
    """Number of time steps in a forcing pytree (leading axis of its leaves)."""
    leaves = jax.tree_util.tree_leaves(forcing)
    return int(leaves[0].shape[0])


def _scan(model, params, forcing, init):
    drivers = model.prepare(params, forcing)

    def body(state, d):
        return model.step(state, d, params)

    return jax.lax.scan(body, init, drivers)


@partial(jax.jit, static_argnums=0)
def simulate(model: ProcessModel, params: Any, forcing: Any, init: Any) -> Any:
    """Run ``model`` over the forcing period.

    Parameters
    ----------
    model
        A process model instance (static: changing it recompiles; changing parameter *values* does not).
    params
        ``model.Params`` with scalar (or broadcastable) leaves.
    forcing
        ``model.Forcing`` whose leaves have a leading time axis of length T.
    init
        ``model.State`` at the start of day 1 (see :mod:`bayeslsm.lsm.spinup`).

    Returns
    -------
    model.Outputs
        Leaves of shape (T,): daily fluxes and end-of-day state.
    """
    _, outputs = _scan(model, params, forcing, init)
    return outputs


@partial(jax.jit, static_argnums=0)
def simulate_final(model: ProcessModel, params: Any, forcing: Any, init: Any) -> tuple[Any, Any]:
    """Like :func:`simulate` but also return the final state: ``(final_state, outputs)``."""
    return _scan(model, params, forcing, init)


def simulate_sites(model: ProcessModel, params: Any, forcing: Any, init: Any, params_axis: Any = 0) -> Any:
    """Run ``model`` at several sites at once (``jax.vmap`` over a leading ``site`` axis).

    ``forcing`` and ``init`` carry a leading site axis; ``params`` too unless ``params_axis=None``
    (shared parameters).  Output leaves have shape (site, T).
    """
    return jax.vmap(partial(simulate, model), in_axes=(params_axis, 0, 0))(params, forcing, init)


def as_float_array(x, dtype=None):
    """Convert to a floating JAX array (float64 when x64 is enabled)."""
    return jnp.asarray(x, dtype=dtype if dtype is not None else jnp.result_type(float))
