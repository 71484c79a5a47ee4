"""Hybrid models: a small neural network inside the JAX process model, fitted with the physical parameters.

DALEC2 + water's soil-water stress factor β(W) (FAO-56's linear ramp, :func:`bayeslsm.lsm.dalec2_water.
water_stress_factor`) is replaced by a multilayer perceptron of the relative soil water r = W / W_max,

    β(W) = sigmoid(MLP(2 r − 1))          (Equinox ``MLP``; β ∈ (0, 1), no shape imposed)

and the network weights are learned together with chosen physical parameters from the observations
(:func:`fit_hybrid`): stochastic variational inference (NumPyro SVI, ``AutoNormal`` guide) over the physical
parameters with the network weights as a point estimate (``numpyro.param``, maximum marginal-likelihood
under the variational bound; Reichstein et al. 2019, doi:10.1038/s41586-019-0912-1, on hybrid modelling).

The network enters through :class:`~bayeslsm.lsm.DALEC2Water`'s ``stress_fn`` hook; the weights travel as
one extra leaf ``net`` of the parameter pytree (:data:`HybridParams`), so the model stays a pure function of
its parameters and ``jax.grad`` reaches the weights through the daily scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bayeslsm.lsm.dalec2_water import DALEC2Water, DALEC2WaterParams

__all__ = ["HybridFit", "HybridParams", "NetworkStress", "fit_hybrid", "hybrid_model", "stress_curve"]

HybridParams = NamedTuple("HybridParams", [(n, Any) for n in (*DALEC2WaterParams._fields, "net")])
HybridParams.__doc__ = "DALEC2Water's parameters plus ``net``: the flat vector of the stress network's weights."
HybridParams.__module__ = __name__


@dataclass(frozen=True, eq=False)
class NetworkStress:
    """β(W) = sigmoid(MLP(2 W/W_max − 1)): a hashable ``stress_fn`` for :class:`~bayeslsm.lsm.DALEC2Water`.

    Holds the network's structure (static, compared by identity); the weights come from ``params.net``
    (a flat vector, unravelled with ``unravel``).
    """

    static: Any
    unravel: Callable

    def network(self, flat):
        return eqx.combine(self.unravel(flat), self.static)

    def beta(self, relative_water, flat):
        """β at relative soil water ``relative_water`` (scalar, W/W_max) for weights ``flat``."""
        x = jnp.reshape(2.0 * relative_water - 1.0, (1,))
        return jax.nn.sigmoid(self.network(flat)(x)[0])

    def __call__(self, w, params):
        return self.beta(w / params.W_max, params.net)


def hybrid_model(width: int = 16, depth: int = 2, seed: int = 0) -> tuple[DALEC2Water, jnp.ndarray]:
    """DALEC2Water whose water stress is a fresh MLP (``width`` x ``depth``, tanh), and its initial weights.

    Returns
    -------
    (model, net0)
        The process model and the flat initial weight vector (the ``net`` leaf of :data:`HybridParams`).
    """
    from jax.flatten_util import ravel_pytree

    mlp = eqx.nn.MLP(1, 1, width, depth, activation=jnp.tanh, key=jax.random.PRNGKey(seed))
    arrays, static = eqx.partition(mlp, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(arrays)
    return DALEC2Water(stress_fn=NetworkStress(static, unravel)), flat


def stress_curve(model: DALEC2Water, net, relative_water) -> np.ndarray:
    """β of the hybrid ``model`` with weights ``net`` at each relative soil water in ``relative_water``."""
    r = jnp.asarray(relative_water, dtype=float)
    return np.asarray(jax.vmap(lambda x: model.stress_fn.beta(x, jnp.asarray(net)))(r))


@dataclass
class HybridFit:
    """Result of :func:`fit_hybrid`: learned weights, variational posterior draws of the physical parameters."""

    model: DALEC2Water
    net: np.ndarray
    draws: dict[str, np.ndarray]
    losses: np.ndarray

    def stress(self, relative_water) -> np.ndarray:
        return stress_curve(self.model, self.net, relative_water)


def fit_hybrid(model: DALEC2Water, net0, forcing, init_values: Mapping[str, float], observations: Mapping[str, Any],
               sigma: Mapping[str, float], priors: Mapping[str, Any], *, steps: int = 2000,
               learning_rate: float = 0.01, draws: int = 500, seed: int = 0) -> HybridFit:
    """Fit the stress network and physical parameters of a hybrid DALEC2Water by SVI.

    Parameters
    ----------
    model, net0
        From :func:`hybrid_model`.
    forcing
        ``model.Forcing`` (one site).
    init_values
        Every parameter and initial-state value (catalogue names, e.g. ``DALEC2Water.DEFAULTS``); the ones in
        ``priors`` are replaced by their samples.
    observations
        Output name (e.g. ``"GPP"``, ``"LE"``) -> daily observations (NaN = gap).
    sigma
        Output name -> Gaussian observation error sd (same units).
    priors
        Physical parameter name -> NumPyro distribution.
    steps, learning_rate
        Adam steps and rate of the SVI fit (``Trace_ELBO``).
    draws
        Draws of the fitted guide returned for the physical parameters.

    Returns
    -------
    HybridFit
    """
    import numpyro
    from numpyro.infer import SVI, Trace_ELBO, autoguide, init_to_median
    from numpyro.optim import Adam

    from bayeslsm.lsm import simulate

    missing = [k for k in observations if k not in sigma]
    if missing:
        raise ValueError(f"`sigma` has no error sd for observed outputs {missing}")
    unknown = [k for k in observations if k not in model.Outputs._fields]
    if unknown:
        raise ValueError(f"observed outputs {unknown} are not outputs of {model.name!r}: {list(model.Outputs._fields)}")
    obs = {k: jnp.asarray(np.where(np.isfinite(v), v, 0.0)) for k, v in observations.items()}
    mask = {k: jnp.asarray(np.isfinite(v)) for k, v in observations.items()}
    values0 = {k: float(v) for k, v in init_values.items()}
    init = model.initial_state(values0)

    def run(phys, net):
        v = dict(values0, **phys)
        p = HybridParams(**{k: jnp.asarray(v[k], dtype=float) for k in DALEC2WaterParams._fields}, net=net)
        return simulate(model, p, forcing, init)

    def npmodel():
        phys = {k: numpyro.sample(k, d) for k, d in priors.items()}
        net = numpyro.param("net", jnp.asarray(net0))
        out = run(phys, net)
        for k, y in obs.items():
            pred = getattr(out, k)
            with numpyro.handlers.mask(mask=mask[k]):
                numpyro.sample(f"obs_{k}", numpyro.distributions.Normal(pred, sigma[k]), obs=y)

    guide = autoguide.AutoNormal(npmodel, init_loc_fn=init_to_median(num_samples=15), init_scale=0.05)
    svi = SVI(npmodel, guide, Adam(learning_rate), Trace_ELBO())
    key_fit, key_draw = jax.random.split(jax.random.PRNGKey(seed))
    res = svi.run(key_fit, int(steps), progress_bar=False)
    post = guide.sample_posterior(key_draw, res.params, sample_shape=(int(draws),))
    return HybridFit(model, np.asarray(res.params["net"]), {k: np.asarray(v) for k, v in post.items()},
                     np.asarray(res.losses))
