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

Rematerialisation (``remat``).  Reverse-mode differentiation of a scan stores, by default, every
intermediate of every step for the backward pass; for these models that is dozens of arrays per day,
written and read back through memory.  With ``remat="nothing_saveable"`` (the default) the daily step is
wrapped in :func:`jax.checkpoint` with :data:`jax.checkpoint_policies.nothing_saveable`: only the carry
(the state, a few numbers per day) is stored, and the step is recomputed during the backward pass.  The
step is cheap and memory traffic is not, so gradients get cheaper (``benchmarks/gradient_batch.py``
measures it: per-point value-and-gradient cost alone and vmapped over chains).  The gradient is the same
function, evaluated in a different order (equal to rounding; ``tests/test_remat.py``).  Forward-only
evaluation is unaffected.  ``remat="none"`` gives JAX's default (save everything).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

__all__ = ["REMAT_POLICIES", "ProcessModel", "simulate", "simulate_sites", "simulate_final", "time_length"]

#: Rematerialisation policies of the scanned daily step (see the module docstring); static.
REMAT_POLICIES = ("nothing_saveable", "dots_saveable", "none")


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


def _check_remat(remat: str) -> None:
    if remat not in REMAT_POLICIES:
        raise ValueError(f"`remat` must be one of {REMAT_POLICIES}; got {remat!r}")


def _scan(model, params, forcing, init, remat="nothing_saveable"):
    _check_remat(remat)
    drivers = model.prepare(params, forcing)

    def body(state, d):
        return model.step(state, d, params)

    if remat != "none":
        body = jax.checkpoint(body, policy=getattr(jax.checkpoint_policies, remat))
    return jax.lax.scan(body, init, drivers)


@partial(jax.jit, static_argnums=0, static_argnames=("remat",))
def simulate(model: ProcessModel, params: Any, forcing: Any, init: Any, remat: str = "nothing_saveable") -> Any:
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
    remat
        Rematerialisation policy of the daily step under reverse-mode differentiation, one of
        :data:`REMAT_POLICIES` (static; see the module docstring).  Values are unaffected.

    Returns
    -------
    model.Outputs
        Leaves of shape (T,): daily fluxes and end-of-day state.
    """
    _, outputs = _scan(model, params, forcing, init, remat)
    return outputs


@partial(jax.jit, static_argnums=0, static_argnames=("remat",))
def simulate_final(model: ProcessModel, params: Any, forcing: Any, init: Any,
                   remat: str = "nothing_saveable") -> tuple[Any, Any]:
    """Like :func:`simulate` but also return the final state: ``(final_state, outputs)``."""
    return _scan(model, params, forcing, init, remat)


def simulate_sites(model: ProcessModel, params: Any, forcing: Any, init: Any, params_axis: Any = 0) -> Any:
    """Run ``model`` at several sites at once (``jax.vmap`` over a leading ``site`` axis).

    ``forcing`` and ``init`` carry a leading site axis; ``params`` too unless ``params_axis=None``
    (shared parameters).  Output leaves have shape (site, T).
    """
    return jax.vmap(partial(simulate, model), in_axes=(params_axis, 0, 0))(params, forcing, init)


def as_float_array(x, dtype=None):
    """Convert to a floating JAX array (float64 when x64 is enabled)."""
    return jnp.asarray(x, dtype=dtype if dtype is not None else jnp.result_type(float))
