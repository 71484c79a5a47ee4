"""Sampler objects: each has one method, ``run(problem, key) -> Draws``.

A sampler knows nothing about xarray, ArviZ or diagnostics: it takes a :class:`~bayeslsm.infer.problem.Problem`
and a PRNG key and returns :class:`Draws` (constrained values of every sample and deterministic site, with
leading ``(chain, draw)`` axes, and per-transition statistics).  The facade
(:meth:`bayeslsm.infer.Calibration.sample`) turns draws into an ``InferenceData`` and runs the sampling
checks (:func:`bayeslsm.diagnostics.checks.check_sampling`); samplers never call them.  The pattern
follows BlackJAX's ``SamplingAlgorithm`` and NumPyro's ``MCMCKernel`` + ``MCMC``.

=============  ===========================================================================================
sampler        what
=============  ===========================================================================================
:class:`NUTS`  NumPyro NUTS (Hoffman & Gelman 2014, JMLR 15:1593), chains in parallel on XLA host devices
:class:`ChEES` BlackJAX ChEES-HMC (Hoffman, Radul & Sountsov 2021, AISTATS, PMLR 130:3907): many chains
               in one vmapped batch, jittered trajectory length tuned across chains; started from, and
               preconditioned by, a Laplace approximation at the MAP (dense mass from the Hessian);
               sampled in chunks that can be checkpointed and resumed
:class:`Laplace`  NumPyro ``AutoLaplaceApproximation`` (MAP by SVI, Gaussian from the Hessian)
:class:`SVI`   NumPyro ``AutoMultivariateNormal`` (variational inference)
=============  ===========================================================================================

``Draws.stats`` uses NumPyro's extra-field names (``diverging``, ``num_steps``, ``energy``, ``accept_prob``,
``adapt_state.step_size``, ``potential_energy``), which :func:`bayeslsm.infer.results.build_inference_data`
maps to ArviZ schema names.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from bayeslsm.infer import names
from bayeslsm.infer.devices import n_devices, sharded_vmap
from bayeslsm.infer.problem import Problem
from bayeslsm.infer.validate import checked_start

__all__ = ["ChEES", "Draws", "Laplace", "NUTS", "SVI", "Sampler", "laplace_fit", "CheckpointError"]

_STATS = ("diverging", "num_steps", "energy", "accept_prob", "adapt_state.step_size", "potential_energy")


class Draws(NamedTuple):
    """What a sampler returns.

    samples
        Site name -> array ``(chain, draw, ...)``: constrained values of every sample and deterministic
        site of the model (NumPyro's ``MCMC.get_samples(group_by_chain=True)`` layout).
    stats
        Per-transition statistics ``(chain, draw)`` under NumPyro extra-field names, or ``None``
        (variational methods).
    settings
        Sampler settings, wall seconds (``sampling_wall_seconds``: everything the sampler did), and where
        known ``compile_seconds`` and ``gradient_evaluations``.
    """

    samples: dict
    stats: dict | None
    settings: dict


class Sampler(Protocol):
    """Anything with ``run(problem, key) -> Draws`` (and a ``method`` name)."""

    method: str

    def run(self, problem: Problem, key) -> Draws: ...


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed (written by another configuration)."""


# ------------------------------------------------------------------------------------------------------
# NumPyro NUTS


@dataclass(frozen=True)
class NUTS:
    """NumPyro's NUTS with its window adaptation; see :meth:`bayeslsm.infer.Calibration.nuts`."""

    chains: int = 4
    warmup: int = 500
    draws: int = 500
    dense_mass: bool = False
    target_accept: float = 0.8
    max_tree_depth: int = 10
    chain_method: str | None = None
    progress: bool = True
    init_params: Mapping[str, Any] | None = None  # latent-site values (e.g. from Calibration._z_values)
    init_values: Mapping[str, Any] | None = None  # the user's constrained values, named in start errors
    method: str = "nuts"

    def run(self, problem: Problem, key) -> Draws:
        from numpyro.infer import MCMC, init_to_median, init_to_value
        from numpyro.infer import NUTS as _NUTS

        chain_method = self.chain_method
        if chain_method is None:
            chain_method = "parallel" if jax.local_device_count() >= self.chains else "sequential"
        init_strategy = init_to_median(num_samples=15)
        if self.init_params:
            init_strategy = init_to_value(values=dict(self.init_params))
        kernel = _NUTS(problem.model, dense_mass=self.dense_mass, target_accept_prob=self.target_accept,
                       max_tree_depth=self.max_tree_depth, init_strategy=init_strategy)
        # data (observations, forcing) are arguments of the compiled sampler, not constants: the
        # program is the same for every site of the same shapes (persistent compilation cache)
        mcmc = MCMC(kernel, num_warmup=self.warmup, num_samples=self.draws, num_chains=self.chains,
                    chain_method=chain_method, progress_bar=self.progress, jit_model_args=True)
        mcmc.run = checked_start(mcmc.run, self.init_values)  # no finite starting point: InitialPointError
        t0 = time.perf_counter()
        mcmc.run(key, **problem.model_kwargs, extra_fields=("diverging", "num_steps", "energy", "accept_prob",
                                                             "adapt_state.step_size", "potential_energy"))
        samples = mcmc.get_samples(group_by_chain=True)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        # parallel chains (pmap) return before the device work ends: wait for it, or the wall time
        # would count only the dispatch
        jax.block_until_ready((samples, extra))
        wall = time.perf_counter() - t0
        settings = dict(method="nuts", chains=self.chains, warmup=self.warmup, draws=self.draws,
                        dense_mass=self.dense_mass, target_accept=self.target_accept,
                        max_tree_depth=self.max_tree_depth, chain_method=chain_method, sampling_wall_seconds=wall)
        return Draws({k: np.asarray(v) for k, v in samples.items()}, {k: np.asarray(v) for k, v in extra.items()},
                     settings)


# ------------------------------------------------------------------------------------------------------
# Laplace approximation at the MAP (shared by ChEES's initialisation)


class LaplaceFit(NamedTuple):
    """MAP ``mean`` (flat unconstrained), ``scale`` with ``cov = scale @ scale.T``, and diagnostics."""

    mean: jnp.ndarray
    scale: jnp.ndarray
    logdensity: float
    n_clipped: int  # Hessian eigenvalues raised to the floor (flat or non-convex directions)
    converged: bool


def _fd_hessian(fun, x: np.ndarray, step: float) -> np.ndarray:
    """Central differences (step ``step``) of the gradient ``fun(x)[1]`` of the negative log density."""
    eye = np.eye(x.size) * step
    return np.stack([(fun(x + e)[1] - fun(x - e)[1]) / (2 * step) for e in eye], axis=1)


def _autodiff_hessian(problem: Problem, x: np.ndarray, batch: int = 16) -> np.ndarray:
    """Exact Hessian of the negative log density at ``x``: forward-over-reverse Hessian-vector products
    with the unit vectors, ``batch`` of them per call of one compiled function."""
    d, dtype = x.size, problem.x0.dtype
    grad = jax.grad(problem.logdensity)
    xj = jnp.asarray(x, dtype=dtype)
    hvp = jax.jit(jax.vmap(lambda v: jax.jvp(grad, (xj,), (v,))[1]))
    b = min(batch, d)
    eye = np.vstack([np.eye(d), np.zeros((-d % b, d))])  # padded to whole batches: one compiled shape
    rows = [np.asarray(hvp(jnp.asarray(eye[j:j + b], dtype=dtype)), dtype=float) for j in range(0, d, b)]
    return -np.concatenate(rows, axis=0)[:d].T


def _fd_is_smooth(h1: np.ndarray, h2: np.ndarray, tol: float = 1e-3) -> bool:
    """Two central-difference Hessians (steps ``h`` and ``h / 8``) agree and are symmetric to ``tol``
    (relative Frobenius norm): no kink of the gradient within the steps, so the difference quotient is
    the curvature (its error O(h^2) would be ~1e-8 relative on a smooth log density)."""
    n1 = np.linalg.norm(h1)
    if not (np.all(np.isfinite(h1)) and np.all(np.isfinite(h2))) or n1 == 0.0:
        return False
    return bool(np.linalg.norm(h1 - h2) <= tol * n1 and np.linalg.norm(h1 - h1.T) <= tol * n1)


def laplace_fit(problem: Problem, maxiter: int = 1000, gtol: float = 1e-6, fd_step: float = 1e-4,
                min_eigenvalue: float = 1e-2, hessian: str = "auto") -> LaplaceFit:
    """MAP by L-BFGS on the unconstrained log density, and the Gaussian of its Hessian there.

    The MAP comes from SciPy's L-BFGS-B (Byrd et al. 1995, doi:10.1137/0916069) on one jitted
    value-and-gradient of the log density (a single compilation, then ~1 ms per iteration).  The Hessian
    ``H`` of the negative log density at the MAP is either exact (``hessian="autodiff"``:
    forward-over-reverse Hessian-vector products, ``jax.jvp`` of ``jax.grad``, with the unit vectors, 16
    per call of one compiled function) or central finite differences of the gradient (``hessian="fd"``,
    step ``fd_step`` in unconstrained units, no second compilation).  The land surface models are
    piecewise smooth (clipped water stress, phenology switches, daily kinks), and a finite difference that
    straddles a kink measures the gradient's jump, not the curvature: on the 29-site ``pft-hierarchy``
    experiment steps of 1e-3 .. 1e-5 gave Hessians 1.2-41 times the exact one (relative Frobenius error)
    with large negative eigenvalues, a whitening whose curvature reached 9e5 in places and held ChEES's
    step size at ~1e-3 for its first 100 warm-up iterations; the exact Hessian there is positive definite
    (smallest eigenvalue 0.91) and costs ~8 s including its compilation.  The default ``"auto"`` takes the
    finite differences at ``fd_step`` and ``fd_step / 8`` and keeps them where they agree and are symmetric
    to 1e-3 (:func:`_fd_is_smooth`; the demo posterior, ~1 s), else the exact Hessian.  ``H`` is symmetrised; it
    gives the covariance ``H^-1`` of the Laplace approximation (Gelman et al. 2013, *Bayesian Data
    Analysis*, 3rd ed., sect. 4.1).  Eigenvalues of ``H`` below ``min_eigenvalue`` (flat, non-convex or
    funnel directions, where the MAP says little) are raised to it, i.e. the approximation is at most
    ``1 / sqrt(min_eigenvalue)`` wide along them; ``scale = V diag(lambda^-1/2)`` from
    ``H = V diag(lambda) V^T``.  If the optimiser ends on a non-finite or worse point, the start
    (``problem.x0``) is used.
    """
    from scipy.optimize import minimize

    if hessian not in ("auto", "autodiff", "fd"):
        raise ValueError(f"`hessian` must be 'auto', 'autodiff' or 'fd'; got {hessian!r}")
    vg = problem.jitted_value_and_grad
    dtype = problem.x0.dtype

    def fun(x):
        v, g = vg(jnp.asarray(x, dtype=dtype))
        v, g = -float(v), -np.asarray(g, dtype=float)
        if not (np.isfinite(v) and np.all(np.isfinite(g))):
            return 1e30, np.zeros_like(g)
        return v, g

    x0 = np.asarray(problem.x0, dtype=float)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter, "gtol": gtol})
    f0 = fun(x0)[0]
    x = res.x if (np.all(np.isfinite(res.x)) and res.fun <= f0) else x0
    d = x.size
    h = None
    if hessian != "autodiff":
        h = _fd_hessian(fun, x, fd_step)
        if hessian == "auto" and _fd_is_smooth(h, _fd_hessian(fun, x, fd_step / 8.0)):
            hessian = "fd"
    if hessian != "fd":
        ha = _autodiff_hessian(problem, x)
        if np.all(np.isfinite(ha)):
            h = ha
        elif h is None:  # "autodiff" failed (non-finite): fall back to finite differences
            h = _fd_hessian(fun, x, fd_step)
    h = 0.5 * (h + h.T)
    lam, vec = np.linalg.eigh(h)
    ok = np.isfinite(lam) & (lam > min_eigenvalue)
    scale = vec * (1.0 / np.sqrt(np.where(ok, lam, min_eigenvalue)))[None, :]
    if not np.all(np.isfinite(scale)):
        scale = np.eye(d)
    return LaplaceFit(jnp.asarray(x, dtype=dtype), jnp.asarray(scale, dtype=dtype), -float(fun(x)[0]),
                      int(np.sum(~ok)), bool(res.success))


COLLAPSED_SPREAD = 1e-3
"""A hierarchy spread (``sd_site`` / ``sd_pft``, unconstrained units) below which a MAP has collapsed."""


def collapsed_levels(problem: Problem, x) -> tuple[str, ...]:
    """Centred hierarchy sites whose spread at ``x`` (a MAP) lies below :data:`COLLAPSED_SPREAD`.

    In the centred form ``z[i] ~ Normal(loc, sd)`` the joint density grows without bound as ``sd -> 0``
    with every ``z[i] = loc``, so a MAP search may end there (a degenerate mode, not a description of the
    posterior) wherever the data inform the site values weakly.  Measured on the hierarchical VSEM twin
    of ``benchmarks/nuts_vs_emcee.py`` with ``Av`` centred: ``Av_sd_site`` at the MAP ~0, every ChEES chain
    started there and stayed (R-hat 2.2, ``Av_sd_site`` 0 in every draw).
    """
    values = problem.unravel(jnp.asarray(x))
    out = []
    for site in values:
        p = names.parse(site)
        if p.role not in ("latent", "latent_pft"):
            continue
        hyper = names.hyper(p.param, "sd_site" if p.role == "latent" else "sd_pft")
        if hyper in values and float(values[hyper]) < np.log(COLLAPSED_SPREAD):  # log sd (exp transform)
            out.append(site)
    return tuple(sorted(out))


def laplace_start(problem: Problem, **kwargs) -> tuple[LaplaceFit, tuple[str, ...]]:
    """:func:`laplace_fit`, unless its MAP collapses a centred hierarchy level (:func:`collapsed_levels`).

    Then the Laplace approximation is made in the coordinates where those levels are non-centred
    (:meth:`Problem.noncentred`: the same posterior, whose MAP there is not degenerate) and pushed
    forward into the problem's own: ``mean = T(m)``, ``scale = J_T(m) @ S`` (the Gaussian of the
    linearised map).  Returns the fit and the sites that were non-centred for it (empty if none).
    Its ``logdensity`` is the problem's own at the pushed-forward mean.
    """
    fit = laplace_fit(problem, **kwargs)
    sites = collapsed_levels(problem, fit.mean)
    if not sites:
        return fit, ()
    other, to_self = problem.noncentred(sites)
    f = laplace_fit(other, **kwargs)
    mean, jac = jax.jit(lambda x: (to_self(x), jax.jacfwd(to_self)(x)))(f.mean)  # one compilation
    scale = jac @ f.scale
    return LaplaceFit(mean, scale, float(problem.jitted_logdensity(mean)), f.n_clipped, f.converged), sites


# ------------------------------------------------------------------------------------------------------
# ChEES-HMC (BlackJAX), many chains in one vmapped batch


class _Interrupt:
    """SIGINT -> a flag checked between chunks (main thread only); restores the old handler on exit."""

    def __init__(self):
        self.hit = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _atomic_savez(path: Path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (+ ``meta`` as JSON) to ``path`` atomically: temporary file, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.asarray(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _start_floor(lp_map, dim: int) -> float:
    """Lowest log density accepted for a Laplace start: ``lp_map - (dim / 2 + max(20, 6 sqrt(dim / 2)))``.

    For a Gaussian posterior a draw ``u ~ N(0, I)`` of its Laplace approximation lies ``|u|^2 / 2`` below the
    MAP (chi-square / 2: mean ``dim / 2``, sd ``sqrt(dim / 2)``), so a start further down says that the
    approximation is wrong in that direction (a clipped Hessian eigenvalue, a sloppy direction), not that
    the chain is in the typical set.  Measured on the 29-site ``pft-hierarchy`` experiment (2 clipped
    eigenvalues of its finite-difference Hessian): starts at -7e9 .. -5e8 against a MAP of -6.3e4, and
    ChEES's step size at ~5e-4 early in warm-up.  ``-inf`` (no check) without a MAP (``init="prior"``).
    """
    if lp_map is None or not np.isfinite(lp_map):
        return -np.inf
    return float(lp_map) - (dim / 2.0 + max(20.0, 6.0 * np.sqrt(dim / 2.0)))


def _restart_stuck_chains(state, key, min_gap: float = 20.0, n_mad: float = 6.0):
    """During warm-up: chains whose log density lies far below the others' (``median - max(min_gap,
    n_mad * 1.4826 * MAD)`` nats) are restarted at the state of a randomly chosen other chain.

    Such a chain sits in a mode the others left (a worse fit, e.g. 200 nats down at FR-Pue); kept, it
    inflates the covariance the whitening is estimated from and never joins the others.  The gap is far
    outside the spread of log densities over a typical set (sd ~ sqrt(dim / 2)).  Warm-up only: the draws
    are made from the restarted chains with a fixed kernel, so the target distribution is unchanged.
    Returns the new state and the mask of chains that were kept.
    """
    from blackjax.mcmc import dynamic_hmc

    lp = np.asarray(state.logdensity, dtype=float)
    n = lp.size
    finite = np.isfinite(lp)
    if n < 4 or finite.sum() < n // 2 + 1:
        return state, np.ones(n, dtype=bool)
    med = np.median(lp[finite])
    mad = 1.4826 * np.median(np.abs(lp[finite] - med))
    good = finite & (lp >= med - max(min_gap, n_mad * mad))
    if good.all():
        return state, good
    donors = np.flatnonzero(good)
    src = np.arange(n)
    src[~good] = np.asarray(jax.random.choice(key, donors, shape=((~good).sum(),)))
    pick = lambda a: jnp.asarray(np.asarray(a)[src])  # noqa: E731
    return dynamic_hmc.DynamicHMCState(pick(state.position), pick(state.logdensity), pick(state.logdensity_grad),
                                       state.random_generator_arg), good


def _rewhiten(window: np.ndarray, mean, scale, state):
    """New whitening ``x = mean' + scale' @ u'`` from chain positions ``window`` (n, d) in the old ``u``.

    ``scale'`` is the Cholesky factor of the positions' covariance (in ``x``), shrunk towards the old
    whitening as Stan shrinks its metric (weight ``n / (n + 5)``); ``mean'`` their mean.  The chains' states
    are mapped to the new coordinates: same points, same log density, gradient ``scale'^T scale^-T g``.
    """
    from blackjax.mcmc import dynamic_hmc

    n = window.shape[0]
    s_old = np.asarray(scale, dtype=float)
    cov_u = np.cov(window, rowvar=False)
    cov_u = (n / (n + 5.0)) * cov_u + (5.0 / (n + 5.0)) * np.eye(cov_u.shape[0])
    cov_x = s_old @ cov_u @ s_old.T
    try:
        s_new = np.linalg.cholesky(0.5 * (cov_x + cov_x.T))
    except np.linalg.LinAlgError:
        return mean, scale, state
    m_new = np.asarray(mean, dtype=float) + s_old @ window.mean(axis=0)
    x = np.asarray(mean, dtype=float)[None, :] + np.asarray(state.position, dtype=float) @ s_old.T
    u_new = np.linalg.solve(s_new, (x - m_new[None, :]).T).T
    g_x = np.linalg.solve(s_old.T, np.asarray(state.logdensity_grad, dtype=float).T).T
    g_new = g_x @ s_new
    dt = np.asarray(mean).dtype
    new_state = dynamic_hmc.DynamicHMCState(jnp.asarray(u_new, dtype=dt), state.logdensity,
                                            jnp.asarray(g_new, dtype=dt), state.random_generator_arg)
    return jnp.asarray(m_new, dtype=dt), jnp.asarray(s_new, dtype=dt), new_state


class _NUTSInfo(NamedTuple):
    """The per-transition NUTS statistics the sampling loop keeps (BlackJAX's ``NUTSInfo`` also carries the
    trajectory's end states, which would be copied off the device every transition)."""

    is_divergent: Any
    num_integration_steps: Any
    energy: Any
    acceptance_rate: Any


@dataclass(frozen=True)
class ChEES:
    """ChEES-HMC with ``chains`` chains advanced together (one ``vmap``-ed gradient per leapfrog step).

    The chains start from draws of a Laplace approximation at the MAP (:func:`laplace_fit`; made with
    the collapsed levels of a centred hierarchy non-centred where the MAP collapses them,
    :func:`laplace_start`, listed in ``laplace_noncentred`` of the run info) and sample in
    its whitened coordinates ``u`` (``x = mean + scale @ u``): a dense mass matrix from the Hessian; a draw
    whose log density is non-finite or implausibly far below the MAP's (:func:`_start_floor`) is pulled
    towards the MAP (``u`` halved up to five times, then the MAP itself; counted in ``init_pulled_in``).  During
    warm-up BlackJAX's ChEES update (``blackjax.adaptation.chees_adaptation.base``) tunes, across chains,
    the step size (dual averaging towards ``target_accept``) and the jittered trajectory length (ChEES
    criterion, Adam with ``learning_rate``).  The Laplace Hessian describes the posterior only at the MAP;
    with ``mass_matrix="dense"`` (default) the whitening is re-estimated during warm-up at the fractions
    ``rewhiten_at`` of it (default after 1/4, 1/2 and 3/4), each time from the covariance of all chains'
    positions since the previous one (the first window starts at 1/8), shrunk towards the previous
    whitening as Stan regularises its metric (weight n / (n + 5)); the chains' states are mapped to the
    new coordinates and the step-size dual averaging restarts.  On the demo posterior two re-whitenings
    raised the min bulk ESS of 16 x 500 draws from ~200 (``f_fol``, R-hat 1.05) to 450-2 260 over three
    seeds (R-hat 1.006-1.036); three, with 300 warm-up iterations, to 1 640-3 870 (R-hat 1.004-1.010).
    At each re-whitening, chains stuck far below the others in log density restart from another chain
    (:func:`_restart_stuck_chains`).  ``mass_matrix="diagonal"`` only rescales the coordinates (second
    quarter of warm-up), ``None`` keeps the Laplace whitening.  Warm-up and sampling call one compiled transition (the
    whitening is an argument, so re-whitening does not recompile); the chains are split evenly over the
    local CPU devices (``devices``, default one per core: :mod:`bayeslsm.infer.devices`) and each device
    advances its share in one ``vmap``.  Sampling runs in chunks of ``chunk`` draws; with ``checkpoint_dir`` the state is written atomically after warm-up and
    after each chunk, and a run with the same settings, problem and key resumes from it and returns the
    draws an uninterrupted run returns.  Ctrl-C (SIGINT) stops after the current chunk, saves, and returns
    the draws made so far with a warning.

    ``kernel="nuts"`` keeps this warm-up (start, whitening, stuck-chain restarts) and draws with BlackJAX's
    NUTS instead (``blackjax.mcmc.nuts``, identity mass in the whitened coordinates, at most
    ``max_doublings`` doublings), all chains in one ``vmap`` per device as above; its step size is tuned by
    dual averaging towards ``nuts_target_accept`` (mean acceptance of the trajectory) over ``nuts_warmup``
    further iterations, starting from ChEES's.  Use it where one trajectory length does not fit every
    direction, e.g. hierarchical posteriors whose population-level parameters move slowly: on the 29-site
    ``pft-hierarchy`` experiment ChEES settled at ~4 leapfrog steps and its global-level parameters mixed
    at ESS ~30 in 9 600 draws.

    References
    ----------
    Hoffman, M. D., Radul, A., & Sountsov, P. (2021). An adaptive-MCMC scheme for setting trajectory
    lengths in Hamiltonian Monte Carlo. AISTATS, PMLR 130:3907-3915.
    """

    chains: int = 32
    warmup: int = 300
    draws: int = 200
    init: str = "laplace"  # or "prior": around problem.x0 with unit scale
    init_scale: float = 1.0
    mass_matrix: str | None = "dense"
    learning_rate: float = 0.025
    target_accept: float = 0.651
    initial_step_size: float = 0.5
    max_leapfrog_steps: int = 256
    chunk: int = 50
    checkpoint_dir: str | None = None
    devices: int | None = None
    rewhiten_at: tuple[float, ...] = (0.25, 0.5, 0.75)
    kernel: str = "hmc"
    nuts_warmup: int = 50
    nuts_target_accept: float = 0.8
    max_doublings: int = 10
    progress: bool = False
    method: str = "chees"

    def __post_init__(self):
        if self.init not in ("laplace", "prior"):
            raise ValueError(f"`init` must be 'laplace' or 'prior'; got {self.init!r}")
        if self.kernel not in ("hmc", "nuts"):
            raise ValueError(f"`kernel` must be 'hmc' (jittered HMC, the ChEES trajectory) or 'nuts'; got {self.kernel!r}")
        if not 0.0 < float(self.nuts_target_accept) < 1.0:
            raise ValueError(f"`nuts_target_accept` must be in (0, 1); got {self.nuts_target_accept!r}")
        if int(self.nuts_warmup) < 0 or not 1 <= int(self.max_doublings) <= 15:
            raise ValueError(f"`nuts_warmup` must be >= 0 and `max_doublings` in 1 .. 15; got {self.nuts_warmup!r}, "
                             f"{self.max_doublings!r}")
        if self.mass_matrix not in (None, "diagonal", "dense"):
            raise ValueError(f"`mass_matrix` must be None, 'diagonal' or 'dense'; got {self.mass_matrix!r}")
        r = tuple(float(f) for f in self.rewhiten_at)
        if not r or any(not 0.125 < f < 1.0 for f in r) or any(b <= a for a, b in zip(r, r[1:])):
            raise ValueError(f"`rewhiten_at` must be increasing fractions of warm-up in (1/8, 1); "
                             f"got {self.rewhiten_at!r}")
        object.__setattr__(self, "rewhiten_at", r)
        for n in ("chains", "warmup", "draws", "chunk", "max_leapfrog_steps"):
            if int(getattr(self, n)) < 1:
                raise ValueError(f"`{n}` must be a positive integer; got {getattr(self, n)!r}")

    @property
    def max_tree_depth(self) -> int:
        """``kernel="nuts"``: ``max_doublings``; else a depth ``n_steps <= max_leapfrog_steps`` never reaches."""
        if self.kernel == "nuts":
            return int(self.max_doublings)
        return int(np.ceil(np.log2(self.max_leapfrog_steps + 1))) + 1

    def _settings(self) -> dict:
        s = asdict(self)
        s.pop("progress")
        return s

    def run(self, problem: Problem, key) -> Draws:
        import optax
        from blackjax.mcmc import dynamic_hmc

        t_start = time.perf_counter()
        compile_s = 0.0
        k_init, k_warm, k_sample = jax.random.split(key, 3)
        ckpt = Path(self.checkpoint_dir) / "chees_state.npz" if self.checkpoint_dir else None
        fingerprint = {"settings": {k: v for k, v in self._settings().items() if k != "checkpoint_dir"},
                       "problem": problem.name, "dim": problem.dim,
                       "key": np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                         else key).tolist()}
        saved = self._load(ckpt, fingerprint) if ckpt is not None and ckpt.exists() else None
        n_chunks = -(-self.draws // self.chunk)
        max_bits = int(np.ceil(np.log2(self.warmup + n_chunks * self.chunk)))

        if saved is None:
            # ---- Laplace at the MAP: start and dense preconditioner --------------------------------
            if self.init == "laplace":
                t0 = time.perf_counter()
                fit, noncentred = laplace_start(problem)
                mean, scale = fit.mean, fit.scale
                map_info = {"map_logdensity": fit.logdensity, "hessian_eigenvalues_clipped": fit.n_clipped,
                            "map_converged": fit.converged, "map_seconds": time.perf_counter() - t0,
                            "laplace_noncentred": list(noncentred)}
            else:
                mean, scale, map_info = problem.x0, jnp.eye(problem.dim), {}
        else:
            mean, scale, map_info = jnp.asarray(saved["mean"]), jnp.asarray(saved["scale"]), saved["meta"]["map_info"]

        # ---- one compiled transition, shared by warm-up and sampling ------------------------------------
        def integration_steps_fn(i, n):
            # quasi-random (Halton) jitter of the trajectory length, as chees_adaptation's default
            return jnp.asarray(jnp.ceil(dynamic_hmc.halton_sequence(i, max_bits) * n), dtype=int)

        kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda i: i + 1,
                                          integration_steps_fn=integration_steps_fn)

        # the whitening (mean, scale) is an argument, not a constant: re-whitening during warm-up
        # (mass_matrix="dense") reuses the compiled transition
        # chains split evenly over host devices (one per core, bayeslsm.infer.devices): each device
        # advances its share of the chains in one vmapped batch; chains never communicate in a transition
        def whitened(mean_, scale_):
            return lambda u: problem.logdensity(mean_ + scale_ @ u)

        def one_chain(kc, sc, step_size, imm, n_leap, mean_, scale_):
            return kernel(kc, sc, whitened(mean_, scale_), step_size, imm, (n_leap,))

        def one_chain_nuts(kc, sc, step_size, imm, n_leap, mean_, scale_):
            # NUTS (kernel="nuts") in the same whitened coordinates; the state keeps the dynamic-HMC form
            # (its Halton counter unused) so that checkpoints and the sampling loop are shared
            from blackjax.mcmc import hmc as _hmc
            from blackjax.mcmc import nuts as _nuts

            new, info = _nuts.build_kernel()(kc, _hmc.HMCState(sc.position, sc.logdensity, sc.logdensity_grad),
                                             whitened(mean_, scale_), step_size, imm, self.max_doublings)
            return (dynamic_hmc.DynamicHMCState(new.position, new.logdensity, new.logdensity_grad,
                                                sc.random_generator_arg),
                    _NUTSInfo(info.is_divergent, info.num_integration_steps, info.energy, info.acceptance_rate))

        def batched(one):
            sharded = sharded_vmap(one, n_devices(self.chains, self.devices),
                                   (True, True, False, False, False, False, False))
            return jax.jit(lambda st, k, *args: sharded(jax.random.split(k, self.chains), st, *args))

        transition, transition_nuts = batched(one_chain), batched(one_chain_nuts)

        def compiled(st, step_size, imm, nuts=False):
            nonlocal compile_s
            t0 = time.perf_counter()
            f = (transition_nuts if nuts else transition).lower(
                st, k_sample, jnp.asarray(step_size, dtype=mean.dtype), imm,
                jnp.asarray(1.0, dtype=mean.dtype), mean, scale).compile()
            compile_s += time.perf_counter() - t0
            return f

        if saved is None:
            # ---- initial positions: N(0, init_scale^2) in whitened units, pulled in where implausible ----
            t_init = time.perf_counter()
            u0 = self.init_scale * jax.random.normal(k_init, (self.chains, problem.dim), dtype=mean.dtype)
            # one point at a time through the log density compiled for the MAP search (no new compilation)
            lp_one = problem.jitted_logdensity
            floor = _start_floor(map_info.get("map_logdensity"), problem.dim)
            lp0 = np.array([float(lp_one(mean + scale @ u)) for u in u0])
            pulled = np.zeros(self.chains, dtype=bool)
            for shrink in (0.5, 0.5, 0.5, 0.5, 0.5, 0.0):
                bad = ~np.isfinite(lp0) | (lp0 < floor)
                if not bad.any():
                    break
                pulled |= bad
                u0 = jnp.where(jnp.asarray(bad)[:, None], shrink * u0, u0)
                for i in np.flatnonzero(bad):  # only the starts that moved
                    lp0[i] = float(lp_one(mean + scale @ u0[i]))
            map_info["init_pulled_in"] = int(pulled.sum())

            # ---- warm-up: ChEES adaptation (BlackJAX's update), diagonal mass from the first half --------
            from blackjax.adaptation.chees_adaptation import base as chees_base

            jitter = lambda i: dynamic_hmc.halton_sequence(i, max_bits)  # noqa: E731
            ad_init, ad_update = chees_base(jitter, lambda i: i + 1, optax.adam(self.learning_rate),
                                            self.target_accept, 0.5, self.max_leapfrog_steps)
            ad_update = jax.jit(ad_update)
            ad = ad_init(0, self.initial_step_size)
            # initial states through the compiled single-point gradient (an eager vmap would run op by op):
            # d logp / du = scale^T d logp / dx
            vals = [problem.jitted_value_and_grad(mean + scale @ u) for u in u0]
            state = dynamic_hmc.DynamicHMCState(
                u0, jnp.stack([v for v, _ in vals]), jnp.stack([scale.T @ g for _, g in vals]),
                jnp.zeros((self.chains,), dtype=int))
            imm = jnp.ones(problem.dim, dtype=mean.dtype)
            # dense: re-whiten with the chains' covariance at the fractions `rewhiten_at` of warm-up, each
            # window running from the previous one (the first from 1/8), as Stan's windows re-estimate its metric
            rewhiten_at = tuple(int(f * self.warmup) for f in self.rewhiten_at)
            restarted = 0
            map_info["init_seconds"] = time.perf_counter() - t_init
            step_c = compiled(state, self.initial_step_size, imm)
            t0 = time.perf_counter()
            warm_grads, window = self.chains, []
            for t in range(self.warmup):
                if self.mass_matrix == "diagonal" and t == self.warmup // 2 and window:
                    # per-coordinate variance of all chains over the second quarter of warm-up, shrunk
                    # towards 1 (the Laplace whitening's value) as Stan does towards 1e-3 (n / (n + 5))
                    w = np.concatenate(window)
                    n = w.shape[0]
                    imm = jnp.asarray((n / (n + 5.0)) * w.var(axis=0) + 5.0 / (n + 5.0), dtype=mean.dtype)
                if self.mass_matrix == "dense" and t in rewhiten_at and window:
                    state, good = _restart_stuck_chains(state, jax.random.fold_in(k_init, t))
                    restarted += int((~good).sum())
                    w = np.stack(window)[:, good].reshape(-1, problem.dim)  # stuck chains out of the estimate
                    mean, scale, state = _rewhiten(w, mean, scale, state)
                    window = []
                    # fresh dual averaging for the new geometry; the trajectory length carries over
                    ad = ad_init(ad.random_generator_arg, ad.step_size)._replace(
                        trajectory_length=ad.trajectory_length)
                n_leap_t = jnp.minimum(ad.trajectory_length / ad.step_size, self.max_leapfrog_steps)
                new, info = step_c(state, jax.random.fold_in(k_warm, t), ad.step_size, imm, n_leap_t,
                                   mean, scale)
                ad = ad_update(ad, info.proposal.position, info.proposal.momentum, state.position,
                               info.acceptance_rate, info.is_divergent, imm)
                state = new
                warm_grads += int(info.num_integration_steps[0]) * self.chains
                if self.mass_matrix == "dense":
                    if t >= self.warmup // 8 and t < rewhiten_at[-1]:
                        window.append(np.asarray(state.position))
                elif self.warmup // 4 <= t < self.warmup // 2:
                    window.append(np.asarray(state.position))
            step_size = float(np.exp(ad.log_step_size_moving_average))
            n_leap = float(min(np.exp(ad.log_trajectory_length_moving_average - ad.log_step_size_moving_average),
                               self.max_leapfrog_steps))
            map_info["warmup_run_seconds"] = time.perf_counter() - t0
            map_info["warmup_chains_restarted"] = restarted
            if self.kernel == "nuts":
                # NUTS's own step size: dual averaging of the chains' mean acceptance, from ChEES's step
                from blackjax.adaptation.step_size import dual_averaging_adaptation

                t0 = time.perf_counter()
                step_c = compiled(state, step_size, imm, nuts=True)
                da_init, da_update, da_final = dual_averaging_adaptation(self.nuts_target_accept)
                da = da_init(step_size)
                k_nw = jax.random.fold_in(k_warm, self.warmup)
                for t in range(self.nuts_warmup):
                    state, info = step_c(state, jax.random.fold_in(k_nw, t), jnp.exp(da.log_step_size).astype(mean.dtype),
                                         imm, jnp.asarray(1.0, dtype=mean.dtype), mean, scale)
                    da = da_update(da, jnp.mean(jnp.where(info.is_divergent, 0.0, info.acceptance_rate)))
                    warm_grads += int(np.sum(info.num_integration_steps))
                    if self.progress and (t + 1) % 10 == 0:
                        print(f"[chees] NUTS step-size warm-up {t + 1}/{self.nuts_warmup}, mean leapfrog steps "
                              f"{float(np.mean(info.num_integration_steps)):.0f}", flush=True)
                if self.nuts_warmup:
                    step_size = float(da_final(da))
                map_info["chees_step_size"] = float(np.exp(ad.log_step_size_moving_average))
                map_info["nuts_warmup_seconds"] = time.perf_counter() - t0
            state_arrays = state._asdict()
            done, collected = 0, {}
            warm_wall = time.perf_counter() - t_start
            if ckpt is not None:
                self._save(ckpt, fingerprint, mean, scale, map_info, step_size, imm, n_leap, warm_grads,
                           state_arrays, done, collected, warm_wall, compile_s)
        else:
            m = saved["meta"]
            step_size, n_leap, warm_grads = m["step_size"], m["n_leap"], m["warmup_gradients"]
            imm = jnp.asarray(saved["imm"])
            state_arrays = {k: jnp.asarray(saved[f"state_{k}"]) for k in
                            ("position", "logdensity", "logdensity_grad", "random_generator_arg")}
            done = m["chunks_done"]
            collected = {k[len("draws_"):]: saved[k] for k in saved if k.startswith("draws_")}
            warm_wall, compile_s = m["warmup_wall_seconds"], m["compile_seconds"]
            t_start -= m["sampling_wall_seconds"]  # keep counting from where the earlier run stopped
            step_c = None

        # ---- sampling in chunks of `chunk` transitions ------------------------------------------------
        state = dynamic_hmc.DynamicHMCState(**state_arrays)
        if step_c is None:
            step_c = compiled(state, step_size, imm, nuts=self.kernel == "nuts")
        eps_ = jnp.asarray(step_size, dtype=mean.dtype)
        nl_ = jnp.asarray(n_leap, dtype=mean.dtype)
        interrupted = False
        with _Interrupt() as stop:
            while done < n_chunks:
                rows = []
                for j in range(self.chunk):
                    i = done * self.chunk + j
                    state, inf = step_c(state, jax.random.fold_in(k_sample, i), eps_, imm, nl_, mean, scale)
                    rows.append({"u": state.position, "lp": state.logdensity, "diverging": inf.is_divergent,
                                 "num_steps": inf.num_integration_steps, "energy": inf.energy,
                                 "accept_prob": inf.acceptance_rate})
                rows = jax.device_get(rows)
                for k in rows[0]:  # (chains, chunk, ...)
                    v = np.stack([np.asarray(r[k]) for r in rows], axis=1)
                    collected[k] = v if k not in collected else np.concatenate([collected[k], v], axis=1)
                done += 1
                if self.progress:
                    print(f"[chees] {done * self.chunk}/{n_chunks * self.chunk} draws", flush=True)
                if ckpt is not None:
                    self._save(ckpt, fingerprint, mean, scale, map_info, step_size, imm, n_leap, warm_grads,
                               state._asdict(), done, collected, warm_wall, compile_s,
                               sampling_wall=time.perf_counter() - t_start)
                if stop.hit and done < n_chunks:
                    interrupted = True
                    warnings.warn(
                        f"ChEES interrupted (SIGINT) after {done * self.chunk} of {self.draws} draws"
                        + (f"; the state is saved in {ckpt}: run again with the same settings to resume"
                           if ckpt is not None else "; give `checkpoint_dir` to be able to resume"),
                        UserWarning, stacklevel=3)
                    break
        n_keep = min(self.draws, done * self.chunk)
        u = collected["u"][:, :n_keep]
        x = np.asarray(mean)[None, None, :] + np.einsum("ij,cdj->cdi", np.asarray(scale), u)
        samples = problem.constrain(x)
        n_c = self.chains
        stats = {
            "diverging": collected["diverging"][:, :n_keep],
            "num_steps": collected["num_steps"][:, :n_keep],
            "energy": collected["energy"][:, :n_keep],
            "accept_prob": collected["accept_prob"][:, :n_keep],
            "adapt_state.step_size": np.full((n_c, n_keep), step_size),
            "potential_energy": -collected["lp"][:, :n_keep],
        }
        wall = time.perf_counter() - t_start
        settings = dict(self._settings(), max_tree_depth=self.max_tree_depth, sampling_wall_seconds=wall,
                        warmup_wall_seconds=warm_wall,
                        compile_seconds=compile_s, step_size=step_size, num_leapfrog_steps=n_leap,
                        gradient_evaluations=int(warm_grads + collected["num_steps"][:, :n_keep].sum()),
                        warmup_gradient_evaluations=warm_grads, draws_kept=n_keep, interrupted=interrupted,
                        **map_info)
        return Draws(samples, stats, settings)

    # ---- checkpoint files ----------------------------------------------------------------------------
    def _save(self, path, fingerprint, mean, scale, map_info, step_size, imm, n_leap, warm_grads, state_arrays,
              chunks_done, collected, warm_wall, compile_s, sampling_wall=None):
        meta = {"fingerprint": fingerprint, "map_info": map_info, "step_size": step_size, "n_leap": n_leap,
                "warmup_gradients": warm_grads, "chunks_done": chunks_done, "warmup_wall_seconds": warm_wall,
                "compile_seconds": compile_s,
                "sampling_wall_seconds": warm_wall if sampling_wall is None else sampling_wall}
        arrays = {"mean": np.asarray(mean), "scale": np.asarray(scale), "imm": np.asarray(imm)}
        arrays.update({f"state_{k}": np.asarray(v) for k, v in state_arrays.items()})
        arrays.update({f"draws_{k}": np.asarray(v) for k, v in collected.items()})
        _atomic_savez(path, arrays, meta)

    def _load(self, path, fingerprint) -> dict:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        meta = json.loads(str(data.pop("__meta__")))
        if meta["fingerprint"] != json.loads(json.dumps(fingerprint)):
            theirs, ours = meta["fingerprint"], json.loads(json.dumps(fingerprint))
            diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            raise CheckpointError(
                f"checkpoint {path} was written by another run ({', '.join(diff)} differ: found "
                f"{ {k: theirs.get(k) for k in diff} }, expected { {k: ours.get(k) for k in diff} }); use another "
                f"`checkpoint_dir` or delete the file")
        data["meta"] = meta
        return data


# ------------------------------------------------------------------------------------------------------
# variational methods (NumPyro)


@dataclass(frozen=True)
class _SVIBase:
    draws: int = 1000
    steps: int = 3000
    learning_rate: float = 0.01
    progress: bool = False

    def _guide(self, model):  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self, problem: Problem, key) -> Draws:
        from numpyro.infer import SVI as _SVI
        from numpyro.infer import Predictive, Trace_ELBO
        from numpyro.optim import Adam

        guide = self._guide(problem.model)
        svi = _SVI(problem.model, guide, Adam(self.learning_rate), Trace_ELBO())
        k_fit, k_draw = jax.random.split(key)
        t0 = time.perf_counter()
        res = jax.block_until_ready(svi.run(k_fit, self.steps, progress_bar=self.progress, **problem.model_kwargs))
        wall = time.perf_counter() - t0
        post = guide.sample_posterior(k_draw, res.params, sample_shape=(self.draws,), **problem.model_kwargs)
        # recompute deterministic sites (constrained parameters) for the guide's draws
        pred = Predictive(problem.model, posterior_samples=post, return_sites=list(problem.posterior_sites),
                          batch_ndims=1)
        full = pred(k_draw, **problem.model_kwargs)
        samples = {k: np.asarray(v)[None] for k, v in {**post, **full}.items()}
        settings = dict(method=self.method, draws=self.draws, steps=self.steps, learning_rate=self.learning_rate,
                        final_loss=float(res.losses[-1]), sampling_wall_seconds=wall)
        return Draws(samples, None, settings)


@dataclass(frozen=True)
class Laplace(_SVIBase):
    """MAP by SVI on NumPyro's ``AutoLaplaceApproximation``, then ``draws`` samples of the Gaussian."""

    method: str = "laplace"

    def _guide(self, model):
        from numpyro.infer import init_to_median
        from numpyro.infer.autoguide import AutoLaplaceApproximation

        return AutoLaplaceApproximation(model, init_loc_fn=init_to_median(num_samples=15))


@dataclass(frozen=True)
class SVI(_SVIBase):
    """Variational inference with a multivariate-normal guide (``AutoMultivariateNormal``)."""

    method: str = "svi"

    def _guide(self, model):
        from numpyro.infer import init_to_median
        from numpyro.infer.autoguide import AutoMultivariateNormal

        return AutoMultivariateNormal(model, init_loc_fn=init_to_median(num_samples=15))
