"""Models not written in JAX ("black boxes"): a documented interface, designs, and a cached parallel ensemble.

Most land surface models that are calibrated (ORCHIDEE, CLM, JULES) are compiled programs: no gradient,
seconds to hours per run. This module runs such a model over a design of parameter values:

* :class:`PythonModel` wraps a Python callable ``f(params: dict[str, float]) -> dict[str, array]``
  (e.g. a numba or f2py-wrapped Fortran routine);
* :class:`CommandModel` wraps a command line program: the parameters go in as a JSON (or one-row CSV) file,
  the outputs come back as a CSV file with one column per output variable;
* :func:`design` draws a space-filling design over parameter bounds (SALib Latin hypercube, SALib's
  Saltelli/Sobol' design for sensitivity analysis, or a scrambled Sobol' sequence);
* :func:`run_ensemble` runs the model at every design point in parallel processes (or threads for
  command line programs, whose work happens in subprocesses), with a ``tqdm`` progress bar, and caches each
  run on disk under a hash of the model key and the parameter values, written atomically: an interrupted
  ensemble resumes where it stopped, and a repeated point is never run twice.

Every exact model run is counted (:attr:`EnsembleResult.n_run`): the point of emulators is to need few.

Examples
--------
>>> import numpy as np
>>> from bayeslsm.ml import PythonModel, design, run_ensemble
>>> def f(p):
...     return {"y": np.array([p["a"] + p["b"], p["a"] * p["b"]])}
>>> X = design({"a": (0, 1), "b": (1, 2)}, 8, method="lhs", seed=0)
>>> res = run_ensemble(PythonModel(f, ("a", "b")), X, processes=1, progress=False)
>>> res.outputs["y"].shape, res.n_run
((8, 2), 8)
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "CommandModel",
    "EnsembleResult",
    "ExternalModelError",
    "PythonModel",
    "design",
    "parameter_hash",
    "run_ensemble",
]

DESIGN_METHODS = ("lhs", "sobol", "saltelli")


class ExternalModelError(RuntimeError):
    """An external model failed, or returned outputs of the wrong shape or kind."""


# ---------------------------------------------------------------------------------------------------
# the interface


def _check_outputs(out: Any, where: str) -> dict[str, np.ndarray]:
    if isinstance(out, np.ndarray) or np.isscalar(out):
        out = {"y": out}
    if not isinstance(out, Mapping) or not out:
        raise ExternalModelError(f"{where}: expected a non-empty mapping output name -> array; got {type(out).__name__}")
    res = {}
    for k, v in out.items():
        a = np.atleast_1d(np.asarray(v, dtype=float))
        if a.ndim != 1:
            raise ExternalModelError(f"{where}: output {k!r} must be 1-D (one value per time or aggregate); got shape {a.shape}")
        res[str(k)] = a
    return res


@dataclass(frozen=True)
class PythonModel:
    """A black-box model given as a Python callable.

    Parameters
    ----------
    func
        ``func(params) -> outputs``: ``params`` a dict name -> float, ``outputs`` a dict name -> 1-D array
        (or one array, stored as ``"y"``). It must be a module-level function (picklable) to run in
        worker processes.
    names
        Parameter names, in the order of the design's columns.
    key
        Identifies the model (and its version, forcing, ...) in the cache: change it when the model
        changes, or cached runs of the old model are reused.
    fixed
        Values passed to ``func`` with every run, not varied by the design.
    """

    func: Callable[[dict[str, float]], Any]
    names: tuple[str, ...]
    key: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        if not self.names:
            raise ValueError("`names` must list at least one parameter")

    @property
    def cache_key(self) -> str:
        return self.key or f"{getattr(self.func, '__module__', '')}.{getattr(self.func, '__qualname__', repr(self.func))}"

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        return _check_outputs(self.func({**self.fixed, **params}), f"model {self.cache_key!r}")


@dataclass(frozen=True)
class CommandModel:
    """A black-box model given as a command line program.

    For each run a fresh temporary folder holds the parameter file; the program is run there and must
    write the output CSV (a header line with the output names, then one row per time step or aggregate).

    Parameters
    ----------
    command
        Program and arguments; ``{params}`` and ``{outputs}`` are replaced by the paths of the parameter
        file and of the output CSV (a string is split with :func:`shlex.split`).
    names
        Parameter names, in the order of the design's columns.
    params_format
        ``"json"``: ``{"name": value, ...}``; ``"csv"``: a header line and one row.
    key
        Identifies the model in the cache (default: the command).
    timeout
        Seconds allowed per run.
    fixed
        Values written to every parameter file, not varied by the design.
    """

    command: Sequence[str] | str
    names: tuple[str, ...]
    params_format: str = "json"
    key: str = ""
    timeout: float | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        cmd = shlex.split(self.command) if isinstance(self.command, str) else list(self.command)
        if not cmd:
            raise ValueError("`command` is empty")
        object.__setattr__(self, "command", tuple(cmd))
        object.__setattr__(self, "names", tuple(self.names))
        if self.params_format not in ("json", "csv"):
            raise ValueError(f"`params_format` must be 'json' or 'csv'; got {self.params_format!r}")

    @property
    def cache_key(self) -> str:
        return self.key or " ".join(self.command)

    def __call__(self, params: Mapping[str, float]) -> dict[str, np.ndarray]:
        values = {**self.fixed, **{k: float(v) for k, v in params.items()}}
        with tempfile.TemporaryDirectory(prefix="bayeslsm-run-") as tmp:
            pfile = Path(tmp) / f"params.{self.params_format}"
            ofile = Path(tmp) / "outputs.csv"
            if self.params_format == "json":
                pfile.write_text(json.dumps(values))
            else:
                pfile.write_text(",".join(values) + "\n" + ",".join(repr(v) for v in values.values()) + "\n")
            cmd = [a.replace("{params}", str(pfile)).replace("{outputs}", str(ofile)) for a in self.command]
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=self.timeout)
            if proc.returncode != 0:
                raise ExternalModelError(
                    f"command {' '.join(cmd)!r} exited with status {proc.returncode} for parameters {values}; "
                    f"stderr: {proc.stderr.strip()[-500:]}"
                )
            if not ofile.is_file():
                raise ExternalModelError(f"command {' '.join(cmd)!r} wrote no output file {{outputs}} ({ofile.name})")
            data = np.genfromtxt(ofile, delimiter=",", names=True, dtype=float, ndmin=1)
            if data.dtype.names is None:
                raise ExternalModelError(f"{ofile.name}: expected a header line with output names")
            return _check_outputs({n: data[n] for n in data.dtype.names}, f"command {self.cache_key!r}")


# ---------------------------------------------------------------------------------------------------
# designs


def design(bounds: Mapping[str, tuple[float, float]], n: int, method: str = "lhs", seed: int = 0) -> np.ndarray:
    """A space-filling design of ``n`` points over the box ``bounds`` (columns in the order of ``bounds``).

    Parameters
    ----------
    bounds
        Parameter name -> (lower, upper).
    n
        Number of points (for ``"saltelli"``: the base sample size; the design has ``n (D + 2)`` rows).
    method
        ``"lhs"``: Latin hypercube (SALib, McKay et al. 1979, doi:10.2307/1268522); ``"sobol"``: scrambled
        Sobol' sequence (``scipy.stats.qmc``; n a power of two is best); ``"saltelli"``: SALib's design for
        Sobol' sensitivity indices (``SALib.sample.sobol``; analyse the ensemble with ``SALib.analyze.sobol``).
    seed
        Random seed.

    Returns
    -------
    numpy.ndarray
        Shape (rows, D).
    """
    if method not in DESIGN_METHODS:
        raise ValueError(f"`method` must be one of {DESIGN_METHODS}; got {method!r}")
    if int(n) < 1:
        raise ValueError(f"`n` must be a positive number of points; got {n}")
    names = list(bounds)
    b = np.array([bounds[k] for k in names], dtype=float).reshape(-1, 2)
    bad = [k for k, (lo, hi) in zip(names, b) if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi)]
    if bad:
        raise ValueError(f"`bounds` of {bad} must be finite with lower < upper; got {[bounds[k] for k in bad]}")
    problem = {"num_vars": len(names), "names": names, "bounds": b.tolist()}
    if method == "lhs":
        from SALib.sample import latin

        return np.asarray(latin.sample(problem, int(n), seed=seed), dtype=float)
    if method == "saltelli":
        from SALib.sample import sobol

        return np.asarray(sobol.sample(problem, int(n), calc_second_order=False, seed=seed), dtype=float)
    from scipy.stats import qmc

    u = qmc.Sobol(len(names), scramble=True, seed=seed).random(int(n))
    return b[:, 0] + u * (b[:, 1] - b[:, 0])


# ---------------------------------------------------------------------------------------------------
# ensemble with an on-disk cache


def parameter_hash(key: str, names: Sequence[str], values: Sequence[float]) -> str:
    """SHA-256 of the model key and the exact parameter values (``float.hex``: no rounding collisions)."""
    text = json.dumps([key, list(names), [float(v).hex() for v in values]])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _save_atomic(path: Path, outputs: Mapping[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **outputs)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`bayeslsm.data.atomic.write_text_atomic`)."""
    from bayeslsm.data.atomic import write_text_atomic

    write_text_atomic(path, text)


def _load(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None  # unreadable (e.g. a file from a killed writer of an older version): run again


def _run_one(model, names, row):
    return model(dict(zip(names, (float(v) for v in row))))


@dataclass
class EnsembleResult:
    """Outputs of an ensemble.

    Attributes
    ----------
    X : (n, D) parameter values, in the order of ``names``
    names : parameter names
    outputs : output name -> (n, m) values (row i for ``X[i]``)
    n_run : exact model runs made by this call (not found in the cache)
    n_cached : design points read from the cache
    """

    X: np.ndarray
    names: tuple[str, ...]
    outputs: dict[str, np.ndarray]
    n_run: int
    n_cached: int

    def stacked(self, keys: Sequence[str] | None = None) -> np.ndarray:
        """Outputs side by side, shape (n, sum of m), in the order of ``keys`` (default: sorted names)."""
        keys = sorted(self.outputs) if keys is None else list(keys)
        return np.concatenate([self.outputs[k] for k in keys], axis=1)


def run_ensemble(
    model,
    X: np.ndarray,
    *,
    cache_dir: str | os.PathLike | None = None,
    processes: int | None = None,
    executor: str | None = None,
    progress: bool = True,
) -> EnsembleResult:
    """Run ``model`` at every row of ``X`` in parallel, reusing and filling an on-disk cache.

    Parameters
    ----------
    model
        :class:`PythonModel`, :class:`CommandModel` or any object with ``names``, ``cache_key`` and
        ``__call__(params: dict) -> dict[str, 1-D array]``.
    X
        (n, D) parameter values, columns in the order of ``model.names``.
    cache_dir
        Folder of the cache (created); one ``.npz`` per run, named by :func:`parameter_hash` and written
        atomically (temporary file + rename), so a killed ensemble leaves no half-written result and a
        rerun resumes. ``None``: no cache.
    processes
        Workers (default: ``os.cpu_count()``); 1 runs in this process.
    executor
        ``"process"`` (default for Python callables; ``spawn`` start method, since JAX is multithreaded
        and must not be forked) or ``"thread"`` (default for :class:`CommandModel`).
    progress
        Show a ``tqdm`` progress bar.

    Returns
    -------
    EnsembleResult
    """
    from tqdm.auto import tqdm

    names = tuple(model.names)
    X = np.atleast_2d(np.asarray(X, dtype=float))
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"`X` must have shape (n, {len(names)}) for parameters {list(names)}; got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("`X` holds non-finite parameter values")
    cache = None if cache_dir is None else Path(cache_dir)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    keys = [parameter_hash(model.cache_key, names, row) for row in X]
    results: list[dict | None] = [None] * len(X)
    if cache is not None:
        for i, k in enumerate(keys):
            p = cache / f"{k}.npz"
            if p.is_file():
                results[i] = _load(p)
    todo_keys: dict[str, int] = {}
    for i, r in enumerate(results):
        if r is None and keys[i] not in todo_keys:
            todo_keys[keys[i]] = i
    n_cached = sum(r is not None for r in results)
    todo = list(todo_keys.values())
    processes = (os.cpu_count() or 1) if processes is None else int(processes)
    if executor is None:
        executor = "thread" if isinstance(model, CommandModel) else "process"
    if executor not in ("process", "thread"):
        raise ValueError(f"`executor` must be 'process' or 'thread'; got {executor!r}")

    done: dict[str, dict] = {}

    def store(i, out):
        done[keys[i]] = out
        if cache is not None:
            _save_atomic(cache / f"{keys[i]}.npz", out)

    bar = tqdm(total=len(todo), desc=f"exact runs ({n_cached} cached)", disable=not progress or not todo)
    try:
        if processes <= 1 or len(todo) <= 1:
            for i in todo:
                store(i, _run_one(model, names, X[i]))
                bar.update()
        else:
            if executor == "process":
                pool = cf.ProcessPoolExecutor(min(processes, len(todo)), mp_context=multiprocessing.get_context("spawn"))
            else:
                pool = cf.ThreadPoolExecutor(min(processes, len(todo)))
            with pool:
                futures = {pool.submit(_run_one, model, names, X[i]): i for i in todo}
                for fut in cf.as_completed(futures):
                    store(futures[fut], fut.result())
                    bar.update()
    finally:
        bar.close()
    for i, k in enumerate(keys):
        if results[i] is None:
            results[i] = done[k]
    out_names = sorted(results[0])
    outputs = {}
    for name in out_names:
        shapes = {r[name].shape for r in results if name in r}
        missing = [i for i, r in enumerate(results) if name not in r]
        if missing or len(shapes) != 1:
            raise ExternalModelError(
                f"output {name!r} differs between runs (missing at rows {missing[:5]}, shapes {sorted(shapes)}); "
                "every run must return the same outputs"
            )
        outputs[name] = np.stack([r[name] for r in results])
    return EnsembleResult(X, names, outputs, n_run=len(todo), n_cached=n_cached)
