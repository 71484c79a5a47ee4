"""Many independent per-site calibrations on a Dask cluster, resumable, one result file per site.

Each site is one Dask task: build the site's :class:`~bayeslsm.infer.Calibration` *on the worker* (so
data are read where the work happens), sample it, and write ``{out}/sites/{site}.nc`` atomically
(:func:`bayeslsm.infer.save`). The coordinating process keeps a site list ``{out}/sites.json``
(written atomically after every completed task) with each site's state (``done``, ``failed``,
``pending``), its result file and a few sampling diagnostics, and prints progress.

A result file that exists is complete (atomic writes), so a run that was stopped (killed coordinator,
lost workers, a failed site) is resumed by running the same command again: sites with a result file are
skipped, the others run. By default the cluster is a ``distributed.LocalCluster`` on this machine; pass
``address`` (e.g. ``"tcp://scheduler:8786"``) or a ``distributed.Client`` to use any Dask cluster. On a
remote cluster the builder is pickled (cloudpickle) and ``out`` must be a folder every worker can
write to (shared file system).

The joint hierarchical posterior of many sites is one NumPyro model instead; its site axis is sharded
over devices with ``Calibration(shard_sites=True)`` (README, "Many sites").
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ExperimentSites", "SiteResult", "TwinSites", "run_sites", "site_result_path"]

METHODS = ("nuts", "laplace", "svi")
_STATES = ("done", "failed", "pending")


def _safe(site: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(site))


def site_result_path(out: str | os.PathLike, site: str) -> Path:
    """``{out}/sites/{site}.nc`` (characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``)."""
    return Path(out) / "sites" / f"{_safe(site)}.nc"


@dataclass(frozen=True)
class SiteResult:
    """Outcome of one site: ``state`` is ``done`` (this run or before: ``skipped``), ``failed`` or ``pending``."""

    site: str
    state: str
    path: str | None = None
    skipped: bool = False
    wall_seconds: float | None = None
    max_r_hat: float | None = None
    divergences: int | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


# ---------------------------------------------------------------------------------------------------
# builders: site id -> Calibration (run on the workers; must pickle for remote clusters)


class TwinSites:
    """Synthetic sites for tests and demos: generated weather and twin observations per site.

    Site ``i`` of ``n`` gets :func:`bayeslsm.data.synthetic.weather_generator` weather (latitude
    ``35 + 20 i / n``, seed ``seed + i``), truncated to ``days``, and observations simulated from the
    catalogue defaults with ``gaps`` missing.

    Examples
    --------
    >>> build = TwinSites(n=30, model="vsem", free=("LUE",))  # doctest: +SKIP
    >>> cal = build(build.site_ids[0])  # doctest: +SKIP
    """

    def __init__(self, n: int, model: str = "vsem", free: Sequence[str] = ("LUE",), days: int = 365,
                 streams: Sequence[Mapping] | None = None, gaps: float = 0.2, seed: int = 0):
        if int(n) < 1:
            raise ValueError(f"`n` (number of synthetic sites) must be >= 1; got {n!r}")
        if not 1 <= int(days) <= 366:
            raise ValueError(f"`days` must be in 1..366; got {days!r}")
        self.n, self.model, self.free, self.days = int(n), model, tuple(free), int(days)
        self.streams = list(streams) if streams is not None else [
            {"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": 0.5}}]
        self.gaps, self.seed = float(gaps), int(seed)

    @property
    def site_ids(self) -> list[str]:
        return [f"syn{i:04d}" for i in range(self.n)]

    def __call__(self, site: str):
        from bayeslsm.data.synthetic import weather_generator
        from bayeslsm.infer import Calibration, twin_experiment
        from bayeslsm.priors import load_catalogue

        if site not in self.site_ids:
            raise ValueError(f"unknown synthetic site {site!r}; expected one of {self.site_ids[0]}..{self.site_ids[-1]}")
        i = self.site_ids.index(site)
        forcing = weather_generator(years=1, lat=35.0 + 20.0 * i / self.n, seed=self.seed + i, site=site)
        forcing = forcing.isel(time=slice(0, self.days))
        cat = load_catalogue(self.model)
        truth = {k: s.default for k, s in cat.parameters.items()}
        obs, _ = twin_experiment(self.model, forcing, self.streams, truth, gaps=self.gaps, seed=self.seed + 1000 + i)
        return Calibration(self.model, forcing, obs, self.streams, free=self.free)


class ExperimentSites:
    """The sites of an experiment file (:mod:`bayeslsm.experiments`), each calibrated on its own.

    ``build(site)`` reads that site's data for the experiment's calibration period and builds the
    experiment's calibration for it alone.
    """

    def __init__(self, experiment: str | os.PathLike):
        self.experiment = str(experiment)

    def _load(self):
        from bayeslsm.experiments import load_experiment

        return load_experiment(self.experiment)

    @property
    def site_ids(self) -> list[str]:
        return [s.id for s in self._load().sites if not getattr(s, "excluded", None)]

    def __call__(self, site: str):
        from bayeslsm.experiments.build import build_calibration
        from bayeslsm.experiments.prepare import prepare_data

        exp = self._load().with_overrides({"sites": [site]})
        forcing, obs = prepare_data(exp).calibration
        return build_calibration(exp, forcing, obs)


# ---------------------------------------------------------------------------------------------------
# the task


_NUMPYRO_LOCK = threading.Lock()
"""NumPyro's effect handlers live on one global stack per process: two models traced at once by two
threads of the same worker would interleave their handlers. One fit at a time per process, then; JAX
still uses every core of the worker for it."""


def _use_compilation_cache(path: str | None) -> None:
    """Turn on JAX's persistent compilation cache in this process (unless already configured).

    Calibrations of sites with the same shapes compile to the same programs (forcing and observations
    are arguments, not constants), so every site after the first loads them instead of compiling
    (measured: 7 s of 9 s per tiny VSEM site went to two XLA compilations).
    """
    import jax

    if path is None or jax.config.jax_compilation_cache_dir:
        return
    # one folder per worker: JAX's file cache is not safe for concurrent writers (a reader can see a
    # half-written entry); named by the worker's name, so a resumed run's worker of the same name
    # finds the programs of the previous run
    try:
        from distributed import get_worker

        who = _safe(str(get_worker().name))
    except (ImportError, ValueError):
        who = str(os.getpid())
    path = Path(path) / f"{_safe(socket.gethostname())}-{who}"
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _fit_site(build: Callable[[str], Any], site: str, path: str, method: str, fit: Mapping[str, Any],
              cache: str | None = None) -> dict:
    """Worker side: build, sample, save atomically; a small summary back to the coordinator."""
    with _NUMPYRO_LOCK:
        _use_compilation_cache(cache)
        return _fit_site_locked(build, site, path, method, fit)


def _fit_site_locked(build, site, path, method, fit) -> dict:
    import bayeslsm  # noqa: F401  (XLA flags before jax on a fresh worker)
    from bayeslsm.infer import save

    t0 = time.perf_counter()
    cal = build(site)
    kw = dict(fit)
    if method == "nuts":
        kw.setdefault("progress", False)
    idata = getattr(cal, method)(**kw)
    save(idata, path)
    out = {"wall_seconds": time.perf_counter() - t0}
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        out["divergences"] = int(idata.sample_stats["diverging"].sum())
    if idata.posterior.sizes.get("chain", 1) > 1:
        from bayeslsm._compat import import_arviz

        rhat = import_arviz().rhat(idata.posterior)
        vals = [float(v) for v in rhat.to_array().values.ravel() if np.isfinite(v)]
        out["max_r_hat"] = max(vals) if vals else None
    return out


# ---------------------------------------------------------------------------------------------------
# the site list


def _read_list(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"site list {str(path)!r} is not valid JSON ({err}); remove it to start afresh "
                         f"(result files in {str(path.parent / 'sites')!r} are kept and reused)") from None
    return data.get("sites", {}) if isinstance(data, dict) else {}


def _write_list(path: Path, entries: dict, meta: dict) -> None:
    from bayeslsm.data.atomic import atomic_path

    counts = {s: sum(1 for e in entries.values() if e["state"] == s) for s in _STATES}
    text = json.dumps({**meta, "counts": counts, "sites": entries}, indent=1, default=str)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def _client(client, address, n_workers, threads_per_worker, processes):
    """(client, close): the given client, one connected to ``address``, or a new LocalCluster."""
    from distributed import Client, LocalCluster

    if client is not None:
        return client, lambda: None
    if address is not None:
        c = Client(address)
        return c, c.close
    # ":0": the scheduler's HTTP server (it serves routes even without a dashboard) takes a free port, so a
    # second cluster on the machine (another run, a notebook) neither collides on 8787 nor warns.
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=processes,
                           dashboard_address=":0")
    c = Client(cluster)

    def close():
        c.close()
        cluster.close()

    return c, close


def run_sites(build: Callable[[str], Any], sites: Sequence[str], out: str | os.PathLike, *, method: str = "nuts",
              fit: Mapping[str, Any] | None = None, client=None, address: str | None = None, n_workers: int = 2,
              threads_per_worker: int = 1, processes: bool = True, progress: bool | Callable[[str], None] = True,
              retry_failed: bool = True, compilation_cache: str | os.PathLike | None = "auto") -> dict[str, SiteResult]:
    """Calibrate every site on its own, one Dask task per site; resumable.

    Parameters
    ----------
    build
        ``build(site) -> Calibration``, called on a worker (e.g. :class:`TwinSites`,
        :class:`ExperimentSites`, or a function); pickled for clusters with worker processes.
    sites
        Site ids (unique). Sites whose result file ``{out}/sites/{site}.nc`` exists are skipped.
    out
        Output folder: ``sites/{site}.nc`` per site and the site list ``sites.json``.
    method
        ``"nuts"``, ``"laplace"`` or ``"svi"`` (the :class:`~bayeslsm.infer.Calibration` method).
    fit
        Keyword arguments of that method (e.g. ``chains``, ``warmup``, ``draws``, ``seed``).
    client, address
        A ``distributed.Client`` to use, or the address of a scheduler to connect to; neither: a
        ``LocalCluster`` of ``n_workers`` worker processes (``processes=False``: threads of this
        process) with ``threads_per_worker`` threads each, closed at the end. A worker process runs
        one fit at a time (NumPyro's handler stack is per process), so parallelism comes from worker
        processes; ``processes=False`` runs the sites one after another.
    progress
        Print one line per finished site (``True``), nothing (``False``) or call ``progress(line)``.
    retry_failed
        Run sites the site list records as failed again (default); ``False`` leaves them failed.
    compilation_cache
        Folder of JAX's persistent compilation caches, one per worker process (``"auto"``:
        ``{out}/.jax_cache``; ``None``: off). Sites of the same shapes then compile once (about 2 s instead of 9 s per tiny
        VSEM site on 2 cores). A worker whose process configured a cache already keeps its own.

    Returns
    -------
    dict
        Site -> :class:`SiteResult`, in the order of ``sites``.

    Examples
    --------
    >>> build = TwinSites(n=30)  # doctest: +SKIP
    >>> res = run_sites(build, build.site_ids, "out", fit={"chains": 1, "warmup": 50, "draws": 50})  # doctest: +SKIP
    """
    sites = [str(s) for s in sites]
    if len(set(sites)) != len(sites):
        dup = sorted({s for s in sites if sites.count(s) > 1})
        raise ValueError(f"`sites` lists {dup} more than once; expected unique site ids")
    clash = {}
    for s in sites:
        clash.setdefault(_safe(s), []).append(s)
    clash = {k: v for k, v in clash.items() if len(v) > 1}
    if clash:
        raise ValueError(f"site ids {list(clash.values())} map to the same result file name; rename them")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}")
    fit = dict(fit or {})
    say = (print if progress is True else (lambda line: None) if progress is False else progress)
    out = Path(out)
    (out / "sites").mkdir(parents=True, exist_ok=True)
    list_path = out / "sites.json"
    old = _read_list(list_path)
    meta = {"method": method, "fit": fit, "n_sites": len(sites)}

    entries: dict[str, dict] = {}
    todo = []
    for s in sites:
        path = site_result_path(out, s)
        if path.is_file():
            prev = old.get(s, {})
            entries[s] = {**prev, "state": "done", "path": str(path), "skipped": True}
        elif old.get(s, {}).get("state") == "failed" and not retry_failed:
            entries[s] = {**old[s], "skipped": True}
        else:
            entries[s] = {"state": "pending", "path": None}
            todo.append(s)
    _write_list(list_path, entries, meta)
    n_done = sum(1 for e in entries.values() if e["state"] == "done")
    say(f"[bayeslsm sites] {len(sites)} sites: {n_done} done before, {len(todo)} to run")

    if todo:
        from distributed import as_completed

        c, close = _client(client, address, n_workers, threads_per_worker, processes)
        try:
            cache = str(out / ".jax_cache") if compilation_cache == "auto" else (
                None if compilation_cache is None else str(compilation_cache))
            if client is None and address is None and not processes:
                cache = None  # threads of this process: do not change this process's JAX configuration
            futures = {c.submit(_fit_site, build, s, str(site_result_path(out, s)), method, fit, cache,
                                key=f"bayeslsm-site-{_safe(s)}-{time.time_ns()}", pure=False): s for s in todo}
            for k, fut in enumerate(as_completed(futures), start=1):
                s = futures[fut]
                try:
                    res = fut.result()
                    entries[s] = {"state": "done", "path": str(site_result_path(out, s)), "skipped": False, **res}
                    line = f"{s} done in {res['wall_seconds']:.1f} s"
                except Exception as err:  # noqa: BLE001  (one site's failure must not stop the others)
                    entries[s] = {"state": "failed", "path": None, "error": f"{type(err).__name__}: {err}"}
                    line = f"{s} FAILED: {type(err).__name__}: {err}"
                _write_list(list_path, entries, meta)
                say(f"[bayeslsm sites] [{k}/{len(todo)}] {line}")
        finally:
            close()
    return {s: SiteResult(site=s, **{k: v for k, v in entries[s].items() if k in SiteResult.__dataclass_fields__})
            for s in sites}
