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

__all__ = ["ExternalCalibration", "SpecError", "calibrate_external", "gaussian_loglik", "prior_bounds", "run_emulator_spec"]

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


# ---------------------------------------------------------------------------------------------------
# the emulator workflow from a specification file (CLI: ``bayeslsm emulate``)

class SpecError(ValueError):
    """A problem in an emulator specification file (names the file, the table and the key)."""


SPEC_SETTINGS = ("n_design", "design_method", "emulator", "rounds", "n_add", "local_fraction", "n_correct", "chains",
                 "warmup", "draws", "seed")


def run_emulator_spec(spec_path, out, overrides: Mapping[str, Any] | None = None, *, processes: int | None = None,
                      progress: bool = True) -> dict:
    """Run :func:`calibrate_external` as described by a TOML file and write the results into ``out``.

    The file::

        [model]                       # either a command line program ...
        command = ["python3", "model.py", "{params}", "{outputs}"]
        params_format = "json"        # or "csv"
        key = "my-model-v1"           # cache key: change it when the model changes
        # python = "package.module:function"   # ... or a Python callable

        [parameters]                  # uniform priors: name = [lower, upper], in the model's order
        LUE = [0.0005, 0.004]

        [observations]
        file = "obs.csv"              # one column per observed output (header = output names), NaN = gap
        sigma = { NEE = 0.0002 }      # Gaussian error sd per output

        [emulator]                    # optional; keys of calibrate_external (n_design, rounds, n_correct, ...)
        n_design = 64

    Writes ``posterior.nc`` (PSIS-corrected draws; attrs k̂ and exact-run counts), ``summary.json`` (emulated
    and corrected means, sds and 90 % intervals, k̂, exact runs per stage) and the ensemble cache ``cache/``
    (a rerun resumes from it), all atomically. Relative paths in the file are relative to the file.

    Returns
    -------
    dict
        The summary (as written to ``summary.json``) with the paths written.
    """
    import importlib
    import json
    import tomllib
    from pathlib import Path

    import numpyro.distributions as dist

    from bayeslsm.infer.results import save
    from bayeslsm.ml.external import CommandModel, PythonModel, _atomic_write_text

    spec_path = Path(spec_path)
    try:
        spec = tomllib.loads(spec_path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{spec_path}: not valid TOML ({err})") from None
    for table in ("model", "parameters", "observations"):
        if not isinstance(spec.get(table), dict) or not spec[table]:
            raise SpecError(f"{spec_path}: missing table [{table}]")
    params = spec["parameters"]
    for k, b in params.items():
        if not (isinstance(b, list) and len(b) == 2 and all(isinstance(v, (int, float)) for v in b) and b[0] < b[1]):
            raise SpecError(f"{spec_path}: [parameters] {k} must be [lower, upper] with lower < upper; got {b!r}")
    names = tuple(params)
    m = spec["model"]
    if ("command" in m) == ("python" in m):
        raise SpecError(f"{spec_path}: [model] needs exactly one of 'command' or 'python'; got {sorted(m)}")
    if "command" in m:
        model = CommandModel(m["command"], names, params_format=m.get("params_format", "json"),
                             key=m.get("key", ""), timeout=m.get("timeout"))
    else:
        mod, _, fn = str(m["python"]).partition(":")
        try:
            func = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError) as err:
            raise SpecError(f"{spec_path}: [model] python = {m['python']!r} cannot be imported ({err})") from None
        model = PythonModel(func, names, key=m.get("key", ""))
    o = spec["observations"]
    if "file" not in o or "sigma" not in o:
        raise SpecError(f"{spec_path}: [observations] needs 'file' and 'sigma'")
    ofile = (spec_path.parent / o["file"]).resolve()
    data = np.genfromtxt(ofile, delimiter=",", names=True, dtype=float, ndmin=1)
    if data.dtype.names is None:
        raise SpecError(f"{ofile}: expected a header line with output names")
    keys = sorted(o["sigma"])
    missing = [k for k in keys if k not in data.dtype.names]
    if missing:
        raise SpecError(f"{ofile}: no column for outputs {missing} named in [observations] sigma; found {list(data.dtype.names)}")
    y = np.concatenate([data[k] for k in keys])
    sig = np.concatenate([np.full(len(data), float(o["sigma"][k])) for k in keys])
    settings = dict(spec.get("emulator", {}))
    unknown = sorted(set(settings) - set(SPEC_SETTINGS) - {"options"})
    if unknown:
        raise SpecError(f"{spec_path}: unknown [emulator] keys {unknown}; expected some of {list(SPEC_SETTINGS)}")
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    priors = {k: dist.Uniform(float(b[0]), float(b[1])) for k, b in params.items()}
    opts = settings.pop("options", None)
    res = calibrate_external(model, priors, gaussian_loglik(y, sig), outputs=keys, emulator_options=opts,
                             cache_dir=out / "cache", processes=processes, progress=progress, **settings)
    summary = res.summary()
    summary["history"] = res.history
    post = save(res.to_inference_data(seed=int(settings.get("seed", 0))), out / "posterior.nc")
    _atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=float) + "\n")
    return {**summary, "posterior": str(post), "summary_path": str(out / "summary.json")}
