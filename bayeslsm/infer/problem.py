"""The immutable inference problem every sampler runs on: :class:`Problem`.

A :class:`~bayeslsm.infer.Calibration` turns xarray forcing and observations into arrays once, in its
constructor (the only place where xarray becomes pytrees).  :class:`Problem` freezes what samplers
need from it:

* the NumPyro model and its keyword arguments (the observed streams as ``(y, mask, unc)`` arrays),
  for samplers that drive NumPyro themselves (:class:`~bayeslsm.infer.samplers.NUTS`, SVI, Laplace);
* the model's *unconstrained* log density over one flat vector (NumPyro's ``potential_fn`` with the
  Jacobians of the transforms, flattened with :func:`jax.flatten_util.ravel_pytree`), for samplers
  that only need a log density and its gradient (BlackJAX's ChEES-HMC, emcee in the benchmarks);
* :meth:`Problem.constrain`, which maps flat vectors back to every sample and deterministic site
  (physical parameter values), in batches, so that every sampler returns the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Problem"]


@dataclass(frozen=True, eq=False)
class Problem:
    """A calibration problem frozen for sampling.

    Parameters
    ----------
    model
        NumPyro model callable; called as ``model(**model_kwargs)``.
    model_kwargs
        Keyword arguments of the model (``{"obs": {stream: (y, mask, unc)}, "forcing": pytree}``).
    name
        Label recorded in the sampler settings.
    init_samples
        Number of prior draws whose median starts the log-density machinery (and, by default, the
        samplers): NumPyro's ``init_to_median(num_samples=init_samples)``.

    Examples
    --------
    >>> problem = Problem.from_calibration(cal)            # doctest: +SKIP
    >>> lp, grad = jax.value_and_grad(problem.logdensity)(problem.x0)  # doctest: +SKIP
    """

    model: Callable
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    init_samples: int = 15

    @classmethod
    def from_calibration(cls, cal) -> "Problem":
        """The problem of a :class:`~bayeslsm.infer.Calibration` (its model and observed arrays)."""
        return cls(cal.numpyro_model, {"obs": cal.observed_arrays(), "forcing": cal.forcing}, name=cal.model.name)

    # ---- the unconstrained log density --------------------------------------------------------------
    @cached_property
    def _info(self):
        from numpyro.infer import init_to_median
        from numpyro.infer.util import initialize_model

        # validate_grad=False: NumPyro's start search then evaluates the potential but not its gradient,
        # op by op (eagerly); the gradient is compiled once, later, by whoever samples (9.6 s -> 3.6 s on
        # the demo).  A non-finite gradient at the start shows up at the first step of any sampler.
        return initialize_model(jax.random.PRNGKey(0), self.model, model_kwargs=dict(self.model_kwargs),
                                init_strategy=init_to_median(num_samples=self.init_samples), validate_grad=False)

    @cached_property
    def _ravel(self):
        from jax.flatten_util import ravel_pytree

        return ravel_pytree(self._info.param_info.z)

    @property
    def x0(self) -> jnp.ndarray:
        """Flat unconstrained starting point (median of ``init_samples`` prior draws)."""
        return self._ravel[0]

    @property
    def dim(self) -> int:
        """Number of unconstrained dimensions."""
        return int(self._ravel[0].size)

    def unravel(self, x) -> dict:
        """Flat unconstrained vector -> dict of unconstrained sample-site values."""
        return self._ravel[1](x)

    def logdensity(self, x) -> jnp.ndarray:
        """Unnormalised log posterior density of a flat unconstrained vector (Jacobians included).

        Non-finite values (a simulation that overflowed) are returned as ``-inf`` so that samplers
        reject them.
        """
        lp = -self._info.potential_fn(self.unravel(x))
        return jnp.where(jnp.isfinite(lp), lp, -jnp.inf)

    @cached_property
    def jitted_value_and_grad(self):
        """``jax.jit(jax.value_and_grad(logdensity))`` for one point, compiled once per problem."""
        return jax.jit(jax.value_and_grad(self.logdensity))

    def jitted_logdensity(self, x):
        """Log density of one point through :attr:`jitted_value_and_grad` (no extra compilation)."""
        return self.jitted_value_and_grad(x)[0]

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """Sample-site name of each coordinate of the flat vector (``site[i]`` for vector sites)."""
        out = []
        for site in sorted(self._info.param_info.z):  # ravel_pytree flattens dicts in sorted-key order
            size = int(np.size(self._info.param_info.z[site]))
            out += [site] if size == 1 and np.ndim(self._info.param_info.z[site]) == 0 else [
                f"{site}[{i}]" for i in range(size)]
        return tuple(out)

    @cached_property
    def posterior_sites(self) -> tuple[str, ...]:
        """Names of the unobserved sample and deterministic sites (traced abstractly, nothing runs)."""
        import numpyro

        found: list[str] = []

        def sites():
            tr = numpyro.handlers.trace(numpyro.handlers.seed(self.model, 0)).get_trace(**self.model_kwargs)
            found.extend(n for n, s in tr.items()
                         if s["type"] in ("sample", "deterministic") and not s.get("is_observed", False))
            return 0

        jax.eval_shape(sites)
        return tuple(found)

    def ravel(self, values: Mapping[str, Any]) -> jnp.ndarray:
        """Dict of unconstrained sample-site values -> flat vector (the inverse of :meth:`unravel`)."""
        from jax.flatten_util import ravel_pytree

        return ravel_pytree({k: values[k] for k in self._info.param_info.z})[0]

    def noncentred(self, sites) -> "tuple[Problem, Callable]":
        """This posterior with the ``Normal(loc, scale)`` latent ``sites`` non-centred, and the map back.

        NumPyro's ``LocScaleReparam(centered=0)`` (``numpyro.handlers.reparam``) samples each site ``s`` as
        ``s_decentered ~ Normal(0, 1)`` and records ``s = loc + scale * s_decentered`` (Papaspiliopoulos et
        al. 2007, doi:10.1214/088342307000000014).  Returns the problem in those coordinates and
        ``to_self``: its flat unconstrained vectors -> this problem's (pure JAX, differentiable: push a
        Gaussian approximation forward with ``jax.jacfwd(to_self)``).  The model is traced, not simulated,
        for the map: under ``jax.jit`` the simulation does not enter it.
        """
        from numpyro.handlers import reparam
        from numpyro.infer.reparam import LocScaleReparam
        from numpyro.infer.util import constrain_fn, unconstrain_fn

        sites = tuple(sites)
        missing = [s for s in sites if s not in self._info.param_info.z]
        if missing:
            raise ValueError(f"`sites` {missing} are not latent sample sites of this problem; latent sites are "
                             f"{sorted(self._info.param_info.z)}")
        model = reparam(self.model, config={s: LocScaleReparam(centered=0.0) for s in sites})
        other = Problem(model, self.model_kwargs, name=self.name, init_samples=self.init_samples)
        kw = dict(self.model_kwargs)

        def to_self(x):
            values = constrain_fn(model, (), kw, other.unravel(x), return_deterministic=True)
            own = {k: values[k] for k in self._info.param_info.z}
            return self.ravel(unconstrain_fn(self.model, (), kw, own))

        return other, to_self

    def constrain(self, xs, batch_size: int = 64) -> dict[str, np.ndarray]:
        """Flat unconstrained vectors ``(..., dim)`` -> every sample and deterministic site, constrained.

        Computed with NumPyro's ``postprocess_fn`` in batches of ``batch_size`` (each runs the model
        forward once); leading axes of ``xs`` are kept.
        """
        xs = jnp.asarray(xs)
        lead = xs.shape[:-1]
        flat = xs.reshape((-1, xs.shape[-1]))
        post = self._info.postprocess_fn
        fn = jax.jit(lambda x: jax.lax.map(lambda v: post(self.unravel(v)), x, batch_size=batch_size))
        out = fn(flat)
        return {k: np.asarray(v).reshape(lead + v.shape[1:]) for k, v in out.items()}
