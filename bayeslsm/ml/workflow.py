"""The emulator workflow for a black-box model, end to end (used by the CLI ``bayeslsm emulate``).

    design (SALib) -> cached parallel ensemble -> emulator (GP or MLP) -> active learning on its posterior
        -> NUTS on the emulated posterior -> PSIS re-weighting with exact runs (k̂) -> InferenceData

Every exact model run is counted, cached runs included once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayeslsm.ml.correction import PSISResult, active_learning, nuts_on_emulator, psis_correction
from bayeslsm.ml.emulators import fit_gp, fit_mlp
from bayeslsm.ml.external import design, run_ensemble

__all__ = ["ExternalCalibration", "calibrate_external", "gaussian_loglik", "prior_bounds"]

EMULATORS = {"gp": fit_gp, "mlp": fit_mlp}


def gaussian_loglik(y_obs, sigma) -> Callable:
    """``loglik(outputs)`` = Σ log N(y_obs | outputs, σ), skipping NaN observations; a JAX function."""
    y = np.asarray(y_obs, dtype=float)
    s = np.broadcast_to(np.asarray(sigma, dtype=float), y.shape)
    if np.any(~(s > 0)):
        raise ValueError("`sigma` must be > 0 for every observation")
    mask = np.isfinite(y)
    yj, sj, mj = jnp.asarray(np.where(mask, y, 0.0)), jnp.asarray(s), jnp.asarray(mask)

    def loglik(pred):
        z = (yj - pred) / sj
        return jnp.sum(jnp.where(mj, -0.5 * z * z - jnp.log(sj) - 0.5 * jnp.log(2 * jnp.pi), 0.0))

    return loglik


def prior_bounds(priors: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Design box of each prior: its support if bounded, else its 0.1 % and 99.9 % quantiles."""
    out = {}
    for k, d in priors.items():
        lo, hi = getattr(d, "low", None), getattr(d, "high", None)
        if lo is None or hi is None:
            lo, hi = (float(d.icdf(jnp.asarray(q))) for q in (0.001, 0.999))
        out[k] = (float(lo), float(hi))
    return out


@dataclass
class ExternalCalibration:
    """Result of :func:`calibrate_external`.

    Attributes
    ----------
    names : parameter names
    emulated : name -> (chains, draws) NUTS draws of the emulated posterior
    psis : the PSIS correction of a thinned subset of ``emulated`` (weights, k̂, ESS)
    n_exact : exact model runs in total (design, active learning, correction)
    n_exact_by_stage : the same, per stage
    history : active-learning rounds
    emulator : the final emulator
    """

    names: tuple[str, ...]
    emulated: dict[str, np.ndarray]
    psis: PSISResult
    n_exact: int
    n_exact_by_stage: dict[str, int]
    history: list[dict] = field(default_factory=list)
    emulator: Any = None
    settings: dict = field(default_factory=dict)

    def summary(self, prob: float = 0.9) -> dict:
        from bayeslsm.ml.correction import weighted_summary

        em = np.stack([self.emulated[n].reshape(-1) for n in self.names], axis=1)
        return {"emulated": weighted_summary(em, None, self.names, prob), "corrected": self.psis.summary(prob),
                "khat": self.psis.khat, "psis_ess": self.psis.ess, "n_exact": self.n_exact,
                "n_exact_by_stage": self.n_exact_by_stage}

    def to_inference_data(self, seed: int = 0):
        """ArviZ ``InferenceData``: ``posterior`` = PSIS-resampled (corrected) draws, one chain; attrs hold
        k̂, the exact-run counts and the settings."""
        import json

        import arviz as az

        draws = self.psis.resample(seed=seed)
        idata = az.from_dict(posterior={n: draws[None, :, i] for i, n in enumerate(self.names)})
        idata.posterior.attrs.update(method="emulator+psis", khat=self.psis.khat, psis_ess=self.psis.ess,
                                     n_exact_runs=self.n_exact, n_exact_by_stage=json.dumps(self.n_exact_by_stage),
                                     settings=json.dumps(self.settings))
        return idata


def calibrate_external(model, priors: Mapping[str, Any], loglik: Callable, *, outputs: list[str] | None = None,
                       n_design: int = 64, design_method: str = "lhs", emulator: str = "gp",
                       emulator_options: Mapping | None = None, rounds: int = 2, n_add: int = 32,
                       local_fraction: float | None = None, n_correct: int = 400, chains: int = 2,
                       warmup: int = 500, draws: int = 500, cache_dir=None, processes: int | None = None,
                       seed: int = 0, progress: bool = True) -> ExternalCalibration:
    """Calibrate a black-box model through an emulator, corrected with exact runs.

    Parameters
    ----------
    model
        :class:`~bayeslsm.ml.PythonModel` or :class:`~bayeslsm.ml.CommandModel`; its ``names`` must be
        the keys of ``priors``, in the same order.
    priors
        Name -> NumPyro distribution.
    loglik
        JAX function of the stacked outputs (``outputs`` in order, each flattened) -> log-likelihood.
    outputs
        Output names to stack (default: all, sorted).
    n_design, design_method
        Initial design (:func:`~bayeslsm.ml.design` over :func:`prior_bounds`).
    emulator, emulator_options
        ``"gp"`` (:func:`~bayeslsm.ml.fit_gp`) or ``"mlp"`` (:func:`~bayeslsm.ml.fit_mlp`) and their options.
    rounds, n_add, local_fraction
        Active learning (:func:`~bayeslsm.ml.active_learning`).
    n_correct
        Draws of the emulated posterior (thinned evenly) run exactly and PSIS re-weighted.
    chains, warmup, draws
        NUTS on the final emulator.
    cache_dir, processes
        Ensemble cache and workers (:func:`~bayeslsm.ml.run_ensemble`).

    Returns
    -------
    ExternalCalibration
    """
    names = tuple(priors)
    if tuple(model.names) != names:
        raise ValueError(f"model parameters {list(model.names)} must equal the prior names {list(names)}, in order")
    if emulator not in EMULATORS:
        raise ValueError(f"`emulator` must be one of {sorted(EMULATORS)}; got {emulator!r}")
    bounds = prior_bounds(priors)
    fit = functools.partial(EMULATORS[emulator], bounds=list(bounds.values()), **dict(emulator_options or {}))
    counts = {"design": 0, "active_learning": 0, "correction": 0}

    def run_exact(X, stage):
        res = run_ensemble(model, X, cache_dir=cache_dir, processes=processes, progress=progress)
        counts[stage] += res.n_run + res.n_cached  # runs needed (a warm cache saves the time, not the count)
        return res.stacked(outputs)

    X0 = design(bounds, n_design, design_method, seed=seed)
    Y0 = run_exact(X0, "design")
    al = active_learning(priors, loglik, fit, lambda X: run_exact(X, "active_learning"), X0, Y0, rounds=rounds,
                         n_add=n_add, chains=chains, warmup=max(warmup // 2, 100), draws=max(draws // 2, 100),
                         seed=seed, local_fraction=local_fraction)
    emu = al.emulator
    post = nuts_on_emulator(priors, loglik, emu, chains=chains, warmup=warmup, draws=draws, seed=seed + 100,
                            progress=progress)
    th = np.stack([post[n].reshape(-1) for n in names], axis=1)
    idx = np.linspace(0, len(th) - 1, min(int(n_correct), len(th))).round().astype(int)
    Xc = th[idx]
    Yc = run_exact(Xc, "correction")
    ll = jax.jit(jax.vmap(loglik))
    ll_exact = np.asarray(ll(jnp.asarray(Yc)))
    ll_emu = np.asarray(ll(jax.vmap(emu)(jnp.asarray(Xc))))
    psis = psis_correction(Xc, ll_exact, ll_emu, names)
    settings = dict(n_design=n_design, design_method=design_method, emulator=emulator, rounds=rounds, n_add=n_add,
                    local_fraction=local_fraction, n_correct=n_correct, chains=chains, warmup=warmup, draws=draws,
                    seed=seed)
    return ExternalCalibration(names, {n: post[n] for n in names} | {"diverging": post["diverging"]}, psis,
                               sum(counts.values()), counts, al.history, emu, settings)
