"""Sampling an emulated posterior with NUTS, and correcting it with the exact model.

An emulator ``ŷ(θ)`` of the model outputs gives an approximate posterior

    π̂(θ | y) ∝ p(θ) · L(y | ŷ(θ))            (L: the same likelihood as the exact posterior, on ŷ)

that NUTS samples cheaply (:func:`nuts_on_emulator`). Emulator error biases it; two corrections use the exact
model y(θ) at a few points, and count them:

* **importance re-weighting** (:func:`psis_correction`): draws θ_s of π̂ get weights
  w_s ∝ L(y | y(θ_s)) / L(y | ŷ(θ_s)), Pareto-smoothed (PSIS: Vehtari et al. 2024, *JMLR* 25(72),
  arXiv:1507.02646; ``arviz.psislw``). The Pareto shape estimate k̂ says whether the correction can be
  trusted: k̂ < 0.7 reliable, above it the emulated posterior misses exact posterior mass and the emulator
  must be refined (Vehtari et al. 2024, sect. 3). One exact run per draw re-weighted.
* **delayed-acceptance Metropolis–Hastings** (:func:`delayed_acceptance`; Christen & Fox 2005,
  doi:10.1198/106186005X76983): a proposal is first screened with π̂; only those it accepts are run
  exactly and accepted with probability min(1, π(θ')π̂(θ) / (π(θ)π̂(θ'))), so the chain targets the exact
  posterior while the exact model runs only for promising proposals.

:func:`active_learning` refines the design where the emulated posterior puts its mass (sequential design on
posterior draws; cf. Rasmussen 2003, *Bayesian Statistics 7*, 651-659; Kennedy & O'Hagan 2001,
doi:10.1111/1467-9868.00294).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ActiveLearningResult",
    "DelayedAcceptanceResult",
    "PSISResult",
    "active_learning",
    "delayed_acceptance",
    "log_prior",
    "nuts_on_emulator",
    "psis_correction",
    "weighted_summary",
]


def _names_priors(priors: Mapping[str, Any]):
    import numpyro.distributions as dist

    if not priors:
        raise ValueError("`priors` must map at least one parameter name to a NumPyro distribution")
    for k, d in priors.items():
        if not isinstance(d, dist.Distribution):
            raise TypeError(f"prior of {k!r} must be a numpyro Distribution; got {type(d).__name__}")
    return tuple(priors)


def log_prior(priors: Mapping[str, Any], theta) -> jax.Array:
    """Sum of the prior log densities at ``theta`` (D,), ``-inf`` outside their supports."""
    names = _names_priors(priors)
    total = 0.0
    for i, n in enumerate(names):
        d = priors[n]
        x = theta[i]
        ok = d.support(x)
        safe = jnp.where(ok, x, d.support.feasible_like(x))  # no NaN gradient from outside the support
        total = total + jnp.where(ok, d.log_prob(safe), -jnp.inf)
    return total


def _model(priors, loglik, emulator):
    import numpyro

    names = tuple(priors)

    def model():
        theta = jnp.stack([numpyro.sample(n, priors[n]) for n in names])
        numpyro.factor("loglik", loglik(emulator(theta)))

    return model


def nuts_on_emulator(priors: Mapping[str, Any], loglik: Callable, emulator: Callable, *, chains: int = 2,
                     warmup: int = 500, draws: int = 500, seed: int = 0, progress: bool = False,
                     target_accept: float = 0.8, dense_mass: bool = True) -> dict[str, np.ndarray]:
    """NUTS (NumPyro) on the emulated posterior p(θ)·exp(loglik(emulator(θ))).

    Parameters
    ----------
    priors
        Parameter name -> NumPyro distribution, in the order of the emulator's inputs.
    loglik
        JAX function of the (stacked) model outputs -> log-likelihood; the same function is used with
        the exact outputs in the correction. For an emulator of the log-likelihood itself, ``lambda z: z[0]``.
    emulator
        JAX function θ (D,) -> outputs (m,), e.g. :class:`~bayeslsm.ml.GPEmulator`.

    Returns
    -------
    dict
        name -> (chains, draws) samples, plus ``"num_steps"`` (chains, draws): leapfrog steps per draw.
    """
    from numpyro.infer import MCMC, NUTS, init_to_median

    _names_priors(priors)
    kernel = NUTS(_model(priors, loglik, emulator), target_accept_prob=target_accept, dense_mass=dense_mass,
                  init_strategy=init_to_median(num_samples=15))
    method = "parallel" if jax.local_device_count() >= chains else "sequential"
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains, chain_method=method,
                progress_bar=progress)
    mcmc.run(jax.random.PRNGKey(seed), extra_fields=("num_steps", "diverging"))
    out = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = mcmc.get_extra_fields(group_by_chain=True)
    out["num_steps"] = np.asarray(extra["num_steps"])
    out["diverging"] = np.asarray(extra["diverging"])
    return out


# ---------------------------------------------------------------------------------------------------
# PSIS re-weighting


def _weighted_quantile(x, w, q):
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw = (cw - 0.5 * w[order]) / cw[-1]
    return np.interp(q, cw, x[order])


def weighted_summary(draws: np.ndarray, weights: np.ndarray | None = None, names: Sequence[str] | None = None,
                     prob: float = 0.9) -> dict[str, dict[str, float]]:
    """Mean, sd and central ``prob`` interval of each column of ``draws`` (n, D) under ``weights`` (n,)."""
    draws = np.asarray(draws, dtype=float)
    w = np.full(len(draws), 1.0 / len(draws)) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    names = names or [f"x{i}" for i in range(draws.shape[1])]
    out = {}
    for i, n in enumerate(names):
        x = draws[:, i]
        m = float(np.sum(w * x))
        lo, hi = _weighted_quantile(x, w, [(1 - prob) / 2, (1 + prob) / 2])
        out[n] = {"mean": m, "sd": float(np.sqrt(np.sum(w * (x - m) ** 2))), "lo": float(lo), "hi": float(hi)}
    return out


@dataclass
class PSISResult:
    """Pareto-smoothed importance weights of emulated-posterior draws towards the exact posterior.

    Attributes
    ----------
    draws : (n, D) the re-weighted draws
    names : parameter names
    weights : (n,) normalised smoothed weights
    khat : Pareto shape estimate k̂ (< 0.7: the weights are reliable)
    ess : effective sample size of the weights, 1 / Σ w²
    n_exact : exact model runs used (one per draw)
    """

    draws: np.ndarray
    names: tuple[str, ...]
    weights: np.ndarray
    khat: float
    ess: float
    n_exact: int

    @property
    def reliable(self) -> bool:
        return bool(self.khat < 0.7)

    def summary(self, prob: float = 0.9) -> dict[str, dict[str, float]]:
        return weighted_summary(self.draws, self.weights, self.names, prob)

    def resample(self, size: int | None = None, seed: int = 0) -> np.ndarray:
        """Draws resampled with the weights (with replacement), shape (size, D)."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self.draws), size=size or len(self.draws), p=self.weights)
        return self.draws[idx]


def psis_correction(draws: np.ndarray, log_lik_exact: np.ndarray, log_lik_emulated: np.ndarray,
                    names: Sequence[str] | None = None, reff: float = 1.0) -> PSISResult:
    """Re-weight draws of the emulated posterior to the exact one with PSIS (``arviz.psislw``).

    Parameters
    ----------
    draws
        (n, D) draws of the emulated posterior (thinned so that they are close to independent, or give
        ``reff`` = ESS / n).
    log_lik_exact, log_lik_emulated
        (n,) log-likelihood at each draw with the exact model outputs and with the emulator's; the prior
        is the same in both posteriors and cancels.

    Returns
    -------
    PSISResult
    """
    import arviz as az

    draws = np.asarray(draws, dtype=float)
    le, lm = np.asarray(log_lik_exact, dtype=float), np.asarray(log_lik_emulated, dtype=float)
    if not (le.shape == lm.shape == (draws.shape[0],)):
        raise ValueError(f"`log_lik_exact` {le.shape} and `log_lik_emulated` {lm.shape} must have shape ({draws.shape[0]},)")
    lr = np.where(np.isfinite(le), le - lm, -np.inf)
    lw, khat = az.psislw(lr - np.max(lr[np.isfinite(lr)]), reff=reff)
    w = np.exp(lw - np.max(lw))
    w = w / w.sum()
    return PSISResult(draws, tuple(names or [f"x{i}" for i in range(draws.shape[1])]), w, float(khat),
                      float(1.0 / np.sum(w**2)), int(len(draws)))


# ---------------------------------------------------------------------------------------------------
# delayed acceptance


@dataclass
class DelayedAcceptanceResult:
    """Chain of delayed-acceptance MH (exact posterior), with the count of exact model runs."""

    chain: np.ndarray  # (n_steps, D)
    names: tuple[str, ...]
    n_exact: int  # exact runs: one per proposal accepted by the emulator stage (+1 for the start)
    accept_stage1: float  # fraction of proposals the emulator stage accepts
    accept_stage2: float  # fraction of those the exact stage accepts


def delayed_acceptance(priors: Mapping[str, Any], loglik: Callable, emulator: Callable,
                       exact_outputs: Callable[[np.ndarray], np.ndarray], x0, cov, n_steps: int, *,
                       seed: int = 0, scale: float | None = None) -> DelayedAcceptanceResult:
    """Delayed-acceptance random-walk Metropolis–Hastings (Christen & Fox 2005, doi:10.1198/106186005X76983).

    Parameters
    ----------
    priors, loglik, emulator
        As :func:`nuts_on_emulator`.
    exact_outputs
        θ (D,) numpy -> exact stacked outputs (m,): one call is one exact model run.
    x0, cov
        Start (D,) and proposal covariance (D, D), e.g. the emulated posterior's draws' mean and covariance.
    n_steps
        Chain length.
    scale
        Proposal scale factor (default 2.38/√D, Roberts et al. 1997, doi:10.1214/aoap/1034625254).

    Returns
    -------
    DelayedAcceptanceResult
    """
    names = _names_priors(priors)
    D = len(names)
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(np.asarray(cov, dtype=float) + 1e-12 * np.eye(D))
    s = 2.38 / np.sqrt(D) if scale is None else float(scale)
    lp = jax.jit(lambda t: log_prior(priors, t))
    lem = jax.jit(lambda t: loglik(emulator(t)))
    lex = jax.jit(loglik)

    def exact(t):
        return float(lex(jnp.asarray(exact_outputs(np.asarray(t)), dtype=float)))

    x = np.asarray(x0, dtype=float)
    lp_x, le_x, lx_x = float(lp(x)), float(lem(x)), exact(x)
    n_exact, n1, n2 = 1, 0, 0
    chain = np.empty((int(n_steps), D))
    for i in range(int(n_steps)):
        y = x + s * (L @ rng.standard_normal(D))
        lp_y = float(lp(y))
        if np.isfinite(lp_y):
            le_y = float(lem(y))
            # stage 1: emulated posterior (symmetric proposal)
            if np.log(rng.random()) < (lp_y + le_y) - (lp_x + le_x):
                n1 += 1
                lx_y = exact(y)
                n_exact += 1
                # stage 2: exact / emulated ratio keeps the exact posterior invariant
                if np.log(rng.random()) < (lx_y - lx_x) - (le_y - le_x):
                    n2 += 1
                    x, lp_x, le_x, lx_x = y, lp_y, le_y, lx_y
        chain[i] = x
    return DelayedAcceptanceResult(chain, names, n_exact, n1 / max(int(n_steps), 1), n2 / max(n1, 1))


# ---------------------------------------------------------------------------------------------------
# active learning


@dataclass
class ActiveLearningResult:
    """Emulator refined on its own posterior, with the design it was fitted on."""

    emulator: Any
    X: np.ndarray
    Y: np.ndarray
    n_exact: int
    history: list[dict] = field(default_factory=list)


def active_learning(priors: Mapping[str, Any], loglik: Callable, fit: Callable[[np.ndarray, np.ndarray], Any],
                    run_exact: Callable[[np.ndarray], np.ndarray], X0: np.ndarray, Y0: np.ndarray, *,
                    rounds: int = 2, n_add: int = 32, chains: int = 2, warmup: int = 300, draws: int = 300,
                    seed: int = 0, local_fraction: float | None = None) -> ActiveLearningResult:
    """Refine an emulator where the posterior mass is.

    Each round fits the emulator on the runs so far, samples its posterior with NUTS, runs the exact model
    at ``n_add`` of those draws (spread over the chains), and adds them to the design.

    Parameters
    ----------
    fit
        ``fit(X, Y) -> emulator``, e.g. ``functools.partial(fit_gp, bounds=...)``.
    run_exact
        ``run_exact(X) -> Y`` (n, m): exact runs (e.g. :func:`~bayeslsm.ml.run_ensemble` with a cache).
    X0, Y0
        Initial design and its exact outputs.
    local_fraction
        If given, from the second round on the emulator is fitted only on the runs whose exact
        log-likelihood is within the best ``local_fraction`` of the runs so far (a local emulator of the
        posterior region; the rest of the box has no posterior mass).

    Returns
    -------
    ActiveLearningResult
        The emulator fitted on the final design, the design, and per round the runs added.
    """
    X, Y = np.asarray(X0, dtype=float), np.asarray(Y0, dtype=float)
    n_exact = 0
    history = []
    ll = jax.jit(jax.vmap(loglik))
    rng = np.random.default_rng(seed)

    def fit_on(X, Y):
        if local_fraction is None:
            return fit(X, Y)
        lls = np.asarray(ll(jnp.asarray(Y)))
        keep = lls >= np.quantile(lls, 1.0 - local_fraction)
        return fit(X[keep], Y[keep])

    emu = fit(X, Y)
    for r in range(int(rounds)):
        post = nuts_on_emulator(priors, loglik, emu, chains=chains, warmup=warmup, draws=draws, seed=seed + 1 + r)
        th = np.stack([post[n].reshape(-1) for n in priors], axis=1)
        pick = rng.choice(len(th), size=min(int(n_add), len(th)), replace=False)
        Xn = th[pick]
        Yn = np.asarray(run_exact(Xn), dtype=float).reshape(len(Xn), -1)
        n_exact += len(Xn)
        X, Y = np.concatenate([X, Xn]), np.concatenate([Y, Yn])
        emu_err = float(np.sqrt(np.mean((np.asarray(jax.vmap(emu)(jnp.asarray(Xn))) - Yn) ** 2)))
        history.append({"round": r, "n_added": int(len(Xn)), "rmse_at_new_points": emu_err,
                        "divergences": int(post["diverging"].sum())})
        emu = fit_on(X, Y)
    return ActiveLearningResult(emu, X, Y, n_exact, history)
