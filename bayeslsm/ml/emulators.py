"""Emulators: fast, differentiable surrogates of an expensive model, so that NUTS can run on them.

Two kept-library emulators of a vector output ``y(θ)`` (stacked model outputs, e.g. monthly NEE and LE, or a
per-stream log-likelihood), both JAX functions of the parameters θ (in physical units) that
``jax.grad`` differentiates:

* :func:`fit_gp`: Gaussian process regression (tinygp; Rasmussen & Williams 2006, *Gaussian Processes for
  Machine Learning*, MIT Press, ISBN 0-262-18253-X, eqs. 2.25-2.26 and 5.8). Squared-exponential kernel with one
  length scale per parameter (ARD), hyper-parameters by maximum marginal likelihood (Optax Adam). A vector
  output is reduced to its leading principal components first, one GP each (Higdon et al. 2008,
  doi:10.1198/016214507000000888); the GP also gives its predictive variance.
* :func:`fit_mlp`: a multilayer perceptron (Equinox) trained by Optax Adam on the same standardised
  (principal-component) targets.

Inputs are scaled to the unit cube of the parameter bounds, outputs standardised per column.

Examples
--------
>>> import numpy as np
>>> from bayeslsm.ml import fit_gp
>>> X = np.random.default_rng(0).uniform(0, 1, (40, 2))
>>> emu = fit_gp(X, np.sin(3 * X[:, :1]) + X[:, 1:] ** 2, bounds=[(0, 1), (0, 1)], steps=200)
>>> float(abs(emu(np.array([0.5, 0.5]))[0] - (np.sin(1.5) + 0.25))) < 0.05
True
"""

from __future__ import annotations

from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GPEmulator", "MLPEmulator", "emulator_error", "fit_gp", "fit_mlp"]


def _prepare(X, Y, bounds, n_components, var_explained):
    X = np.atleast_2d(np.asarray(X, dtype=float))
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"`X` has {X.shape[0]} rows but `Y` has {Y.shape[0]}; expected one output row per design point")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise ValueError("`X` and `Y` must be finite (drop failed runs before fitting)")
    b = np.asarray(bounds, dtype=float).reshape(-1, 2)
    if b.shape[0] != X.shape[1] or not np.all(b[:, 0] < b[:, 1]):
        raise ValueError(f"`bounds` must give (lower, upper), lower < upper, for each of the {X.shape[1]} parameters; got {b.tolist()}")
    lo, width = b[:, 0], b[:, 1] - b[:, 0]
    U = (X - lo) / width
    mu = Y.mean(0)
    sd = Y.std(0)
    sd = np.where(sd > 1e-12 * np.maximum(np.abs(mu), 1.0), sd, 1.0)  # constant outputs: keep the scale
    Z = (Y - mu) / sd
    m = Z.shape[1]
    if m == 1:
        V = np.ones((1, 1))
    else:
        _, s, vt = np.linalg.svd(Z, full_matrices=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        k = int(np.searchsorted(frac, var_explained) + 1) if n_components is None else int(n_components)
        V = vt[: min(k, vt.shape[0])].T  # (m, k)
    T = Z @ V
    return U, T, dict(lo=jnp.asarray(lo), width=jnp.asarray(width), mu=jnp.asarray(mu), sd=jnp.asarray(sd),
                      V=jnp.asarray(V))


class _Scaled(eqx.Module):
    lo: jax.Array
    width: jax.Array
    mu: jax.Array
    sd: jax.Array
    V: jax.Array  # (m, k): principal directions of the standardised outputs

    def _unscale(self, t):
        return self.mu + self.sd * (self.V @ t)

    @property
    def n_components(self) -> int:
        return int(self.V.shape[1])


class GPEmulator(_Scaled):
    """A fitted GP emulator (see :func:`fit_gp`); ``emu(theta)`` -> (m,) predictive mean, jittable.

    ``theta`` has shape (D,) in the physical units of the bounds; map over many with ``jax.vmap``.
    """

    U: jax.Array  # (n, D) training inputs, unit cube
    alpha: jax.Array  # (k, n)  K^-1 (t - mean)
    chol: jax.Array  # (k, n, n)
    log_amp: jax.Array  # (k,)
    log_ls: jax.Array  # (k, D)
    mean: jax.Array  # (k,)

    def _kstar(self, u):
        from tinygp import kernels, transforms

        def one(la, ll):
            k = jnp.exp(2 * la) * transforms.Linear(jnp.exp(-ll), kernels.ExpSquared())
            return k(u[None, :], self.U)[0]

        return jax.vmap(one)(self.log_amp, self.log_ls)  # (k, n)

    def __call__(self, theta):
        u = (jnp.asarray(theta) - self.lo) / self.width
        t = self.mean + jnp.sum(self._kstar(u) * self.alpha, axis=1)
        return self._unscale(t)

    def variance(self, theta):
        """Predictive variance of each output at ``theta`` (latent GP, PCA truncation not included)."""
        u = (jnp.asarray(theta) - self.lo) / self.width
        ks = self._kstar(u)
        v = jax.vmap(lambda L, k: jax.scipy.linalg.solve_triangular(L, k, lower=True))(self.chol, ks)
        var_t = jnp.maximum(jnp.exp(2 * self.log_amp) - jnp.sum(v * v, axis=1), 0.0)
        return self.sd**2 * ((self.V**2) @ var_t)


class MLPEmulator(_Scaled):
    """A fitted neural-network emulator (see :func:`fit_mlp`); ``emu(theta)`` -> (m,), jittable."""

    net: eqx.nn.MLP

    def __call__(self, theta):
        u = (jnp.asarray(theta) - self.lo) / self.width
        return self._unscale(self.net(2.0 * u - 1.0))


def _adam(loss, params, steps, lr):
    import optax

    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(carry, _):
        p, s = carry
        val, g = jax.value_and_grad(loss)(p)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), val

    (params, _), losses = jax.lax.scan(step, (params, state), None, length=int(steps))
    return params, np.asarray(losses)


def fit_gp(X, Y, bounds: Sequence[tuple[float, float]], *, n_components: int | None = None,
           var_explained: float = 0.9999, steps: int = 500, learning_rate: float = 0.05,
           nugget: float = 1e-6) -> GPEmulator:
    """Fit a GP emulator of ``Y`` (n, m) on design ``X`` (n, D) by maximum marginal likelihood.

    Parameters
    ----------
    X, Y
        Design points (physical units) and model outputs, one row per run.
    bounds
        (lower, upper) per parameter: inputs are scaled to this unit cube.
    n_components
        Principal components of the standardised outputs kept (default: enough for ``var_explained``).
    steps, learning_rate
        Adam iterations on the negative log marginal likelihood (Rasmussen & Williams 2006, eq. 5.8).
    nugget
        Minimum noise variance (standardised units), for a stable Cholesky factor.

    Returns
    -------
    GPEmulator
        Mean eq. 2.25 and variance eq. 2.26 of Rasmussen & Williams (2006), mapped back to outputs.
    """
    from tinygp import GaussianProcess, kernels, transforms

    U, T, sc = _prepare(X, Y, bounds, n_components, var_explained)
    n, D = U.shape
    Uj, Tj = jnp.asarray(U), jnp.asarray(T.T)  # (k, n)

    def build(p):
        k = jnp.exp(2 * p["log_amp"]) * transforms.Linear(jnp.exp(-p["log_ls"]), kernels.ExpSquared())
        return GaussianProcess(k, Uj, diag=jnp.exp(2 * p["log_noise"]) + nugget, mean=p["mean"])

    def nll_one(p, t):
        return -build(p).log_probability(t) / n

    def loss(P):
        return jnp.sum(jax.vmap(nll_one)(P, Tj))

    kc = Tj.shape[0]
    P0 = {"log_amp": jnp.log(jnp.std(Tj, axis=1) + 1e-3), "log_ls": jnp.full((kc, D), np.log(0.3)),
          "log_noise": jnp.full((kc,), np.log(1e-2)), "mean": jnp.mean(Tj, axis=1)}
    P, _ = _adam(loss, P0, steps, learning_rate)

    def solve(p, t):
        k = jnp.exp(2 * p["log_amp"]) * transforms.Linear(jnp.exp(-p["log_ls"]), kernels.ExpSquared())
        K = k(Uj, Uj) + (jnp.exp(2 * p["log_noise"]) + nugget) * jnp.eye(n)
        L = jnp.linalg.cholesky(K)
        a = jax.scipy.linalg.cho_solve((L, True), t - p["mean"])
        return a, L

    alpha, chol = jax.vmap(solve)(P, Tj)
    return GPEmulator(U=Uj, alpha=alpha, chol=chol, log_amp=P["log_amp"], log_ls=P["log_ls"], mean=P["mean"], **sc)


def fit_mlp(X, Y, bounds: Sequence[tuple[float, float]], *, n_components: int | None = None,
            var_explained: float = 0.9999, width: int = 64, depth: int = 2, steps: int = 3000,
            learning_rate: float = 3e-3, activation: Callable = jax.nn.silu, seed: int = 0) -> MLPEmulator:
    """Fit a multilayer-perceptron emulator (Equinox ``MLP``, Optax Adam, full batch, mean squared error).

    Parameters as :func:`fit_gp`; ``width``, ``depth`` and ``activation`` shape the network, ``seed`` its
    initial weights.
    """
    U, T, sc = _prepare(X, Y, bounds, n_components, var_explained)
    net = eqx.nn.MLP(U.shape[1], T.shape[1], width, depth, activation=activation, key=jax.random.PRNGKey(seed))
    Uj, Tj = jnp.asarray(2.0 * U - 1.0), jnp.asarray(T)
    params, static = eqx.partition(net, eqx.is_inexact_array)

    def loss(p):
        pred = jax.vmap(eqx.combine(p, static))(Uj)
        return jnp.mean((pred - Tj) ** 2)

    params, _ = _adam(loss, params, steps, learning_rate)
    return MLPEmulator(net=eqx.combine(params, static), **sc)


def emulator_error(emulator, X, Y) -> dict[str, float]:
    """Error of ``emulator`` on held-out runs ``X`` (n, D), ``Y`` (n, m).

    Returns
    -------
    dict
        ``rmse``, ``max_abs`` (over every point and output) and ``rel_rmse`` (RMSE over the standard deviation
        of ``Y`` across the runs, averaged over outputs).
    """
    Y = np.asarray(Y, dtype=float).reshape(len(X), -1)
    pred = np.asarray(jax.jit(jax.vmap(emulator))(jnp.asarray(X, dtype=float)))
    err = pred - Y
    sd = Y.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "max_abs": float(np.max(np.abs(err))),
            "rel_rmse": float(np.mean(np.sqrt(np.mean(err**2, 0)) / sd))}
