"""Runnable calibrations described in TOML: ``models/experiments/*.toml``.

An experiment file says which model to calibrate, at which flux-tower sites, on which period, against
which observation streams (with their bias and error models), which parameters are free, how they are
pooled across sites, and how to sample. :func:`load_experiment` parses and validates it into a frozen
:class:`Experiment`; :func:`run_experiment` reads the data (:mod:`bayeslsm.data`), builds the
:class:`~bayeslsm.infer.Calibration` on the calibration period, samples it, writes ``posterior.nc``,
computes the **held-out skill** on the validation period (``skill.json``) and writes the report
(:func:`write_experiment_report`, ``report.md`` and figures). ``bayeslsm run`` and ``bayeslsm report``
(:mod:`bayeslsm.cli`) are thin wrappers around these two functions.

File format
-----------
::

    [experiment]
    name = "fr-pue"                      # required; letters, digits, '-', '_'
    description = "..."                  # optional
    model = "dalec2_water"               # required: a key of bayeslsm.lsm.MODELS
    spinup = "none"                      # bayeslsm.lsm.spinup.SPINUP_METHODS (default "none")
    n_cycles = 5                         # for the cycling spin-up methods
    edc = ["pool_growth"]                # true, false or a list of bayeslsm.priors.edc.EDC_NAMES

    [periods]
    calibration = ["2000-01-01", "2009-12-31"]   # required, inclusive ISO dates
    validation = ["2010-01-01", "2014-12-31"]    # optional held-out period, after the calibration

    [data]                               # reader settings for every site (all optional)
    qc_threshold = 0.75                  # read_fluxnet(qc_threshold=...)
    qc_missing = "warn"                  # read_fluxnet(qc_missing=...): "warn", "ignore" or "raise"
    partitioning = "NT"                  # read_fluxnet(partitioning=...)
    le_column = "LE_F_MDS"               # read_fluxnet(le_column=...)
    unknown_pft = "error"                # a site whose PFT the catalogue lacks: "error" or "exclude"
    incomplete = "error"                 # a site without complete forcing over the calibration period
    pft_map = {}                         # e.g. {SAV = "GRA"}: PFT -> catalogue PFT, applied first

    [[sites]]
    id = "FR-Pue"                        # FLUXNET site id
    file = "FLX_FR-Pue_..._DD_....csv"   # a name in bayeslsm.data.cache.REGISTRY, or a path (relative
                                         # paths are relative to the TOML file)
    era_file = "..."                     # optional ERA-Interim driver file for gap filling
    pft = "EBF"                          # optional override of the site table / IGBP mapping
    lat = 43.74                          # optional override [degrees_north]
    diurnal_range = 8.0                  # see below; also "as_is" or 12 monthly values [K]
    constant_forcing = {co2 = 411.4}     # optional: replace a forcing variable by a constant (model units)
    exclude = "why"                      # optional: list the site but leave it out, with the reason
    # and per-site qc_threshold, qc_missing, partitioning, le_column

    [[streams]]                          # bayeslsm.obs.StreamConfig.from_dict keys, plus:
    name = "LAI"                         # an observation variable of read_fluxnet (NEE, GPP, RECO, LE,
    support = "8D-year"                  # ET, LAI, FPAR)
    resample = true                      # average daily observations onto the complete periods of
                                         # `support` (a period with a missing day is dropped)
    error = {kind = "gaussian", sigma = {prior = "halfnormal", scale = 0.5}}

    [parameters]
    free = ["ceff", "clma"]              # catalogue names
    fixed = {theta_woo = 5e-5}           # non-default values of parameters that are not free
    fixed_by_pft = {clspan = {ENF = 3.0, DBF = 1.18}}   # per-site fixed values by the site's PFT

    [hierarchy]                          # optional: bayeslsm.infer.Hierarchy
    params = ["ceff"]
    mode = "partial"                     # "partial", "pooled" or "unpooled"
    centered = false
    pft_scale = 0.5
    site_scale = 0.3

    [sampler]
    method = "nuts"                      # "nuts", "laplace" or "svi"
    chains = 4
    warmup = 500
    draws = 500
    dense_mass = false
    target_accept = 0.8
    max_tree_depth = 10
    seed = 0
    steps = 3000                         # laplace / svi optimisation steps
    learning_rate = 0.01                 # laplace / svi
    prior_draws = 200                    # prior and prior-predictive draws stored and used for skill

    [skill]
    prob = 0.9                           # central predictive interval whose coverage is reported
    draws = 400                          # posterior draws (evenly thinned) used for held-out prediction

Zero diurnal range
------------------
Some products carry ``TMIN == TMAX == TA`` (FluxDataKit FR-Pue; the reader warns with
:class:`~bayeslsm.data.fluxnet.DataQualityWarning`). DALEC's ACM canopy conductance divides by
``a6 + (Tmax - Tmin)/2``, so a zero range changes the model's regime, not just its inputs. A site whose
forcing has no diurnal range must say what to do, or :func:`run_experiment` raises
:class:`ExperimentError`:

``diurnal_range = "as_is"``
    keep ``tmin = tmax = ta`` (recorded as a data note);
``diurnal_range = D`` or ``[D_jan, ..., D_dec]`` [K]
    ``tmin = ta - D/2``, ``tmax = ta + D/2`` with a constant or a monthly diurnal temperature range.

Giving ``diurnal_range`` for a site whose file has a real range is an error (it would overwrite data).

Held-out skill
--------------
The validation pass builds a second :class:`~bayeslsm.infer.Calibration` on the calibration plus
validation forcing with the same streams, free and fixed parameters and hierarchy, at the sites whose
forcing covers both periods. Its spin-up is computed on the **calibration window only** and the model then
runs on through the validation period, so over the calibration years the trajectories equal those of the
calibration itself (``_ContinuedCalibration``). Posterior draws enter through their physical
parameter values (``numpyro.handlers.substitute`` on the deterministic sites, with site-level values
selected by site name) and stream bias and error parameters; prior draws are the calibration's stored
``prior`` group, passed the same way (``[sampler].prior_draws`` of them; none when it is 0). Per stream
and period: RMSE of the predictive mean (the mean over draws of the noise-free, biased
prediction), mean error, and the fraction of observations inside the central ``prob`` interval of the
replicated observations (bias and noise included), for prior and posterior.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
import os
import re
import tempfile
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "OBSERVATION_VARIABLES",
    "PreparedData",
    "SiteData",
    "DataOptions",
    "Experiment",
    "ExperimentError",
    "Period",
    "SamplerSettings",
    "SiteSpec",
    "SkillSettings",
    "StreamSpec",
    "available_experiments",
    "build_calibration",
    "heldout_skill",
    "load_experiment",
    "prepare_data",
    "run_experiment",
    "write_experiment_report",
]

OBSERVATION_VARIABLES = ("NEE", "GPP", "RECO", "LE", "ET", "LAI", "FPAR")
"""Observation variables :func:`bayeslsm.data.fluxnet.read_fluxnet` returns; stream names must be one."""

_TOP_KEYS = ("experiment", "periods", "data", "sites", "streams", "parameters", "hierarchy", "sampler", "skill")
_EXPERIMENT_KEYS = ("name", "description", "model", "spinup", "n_cycles", "edc")
_PERIOD_KEYS = ("calibration", "validation")
_DATA_KEYS = ("qc_threshold", "qc_missing", "partitioning", "le_column", "unknown_pft", "incomplete", "pft_map")
_READER_KEYS = ("qc_threshold", "qc_missing", "partitioning", "le_column")
_SITE_KEYS = ("id", "file", "era_file", "pft", "lat", "diurnal_range", "constant_forcing", "exclude") + _READER_KEYS
_STREAM_EXTRA_KEYS = ("resample",)
_PARAMETER_KEYS = ("free", "fixed", "fixed_by_pft")
_HIERARCHY_KEYS = ("params", "mode", "centered", "pft_scale", "site_scale")
_SAMPLER_KEYS = ("method", "chains", "warmup", "draws", "dense_mass", "target_accept", "max_tree_depth", "seed",
                 "steps", "learning_rate", "prior_draws")
_SKILL_KEYS = ("prob", "draws")
_METHODS = ("nuts", "laplace", "svi")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SITE_RE = re.compile(r"^[A-Z]{2}-[A-Za-z0-9]{3}$")
_OVERRIDE_KEYS = ("chains", "warmup", "draws", "seed", "method", "max_tree_depth", "sites", "calibration",
                  "validation", "prior_draws", "skill_draws", "steps", "n_cycles", "progress")


class ExperimentError(ValueError):
    """An experiment file that cannot work: the message names the file, the key, what was expected and found.

    Attributes
    ----------
    path
        The experiment file (``None`` for an experiment built in code).
    key
        Dotted key of the offending entry, e.g. ``"periods.validation"`` or ``"sites[2].file"``.
    """

    def __init__(self, path: str | os.PathLike | None, key: str | None, message: str) -> None:
        self.path = Path(path) if path is not None else None
        self.key = key
        where = f"experiment '{self.path}'" if self.path is not None else "experiment"
        if key:
            where += f", key {key!r}"
        super().__init__(f"{where}: {message}")


# --------------------------------------------------------------------------------------------------
# the parsed experiment


@dataclass(frozen=True)
class Period:
    """An inclusive range of days ``start .. end``.

    Examples
    --------
    >>> p = Period.parse(["2000-01-01", "2000-12-31"], "periods.calibration")
    >>> p.n_days, str(p)
    (366, '2000-01-01..2000-12-31')
    """

    start: np.datetime64
    end: np.datetime64

    @classmethod
    def parse(cls, value: Any, key: str, path: str | os.PathLike | None = None) -> "Period":
        """Parse ``[start, end]`` (ISO dates; TOML dates or strings); raise :class:`ExperimentError`."""
        if isinstance(value, Period):
            return value
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ExperimentError(path, key, f"expected [start, end] as two ISO dates, e.g. "
                                             f"['2000-01-01', '2009-12-31']; found {value!r}")
        days = []
        for v in value:
            try:
                d = np.datetime64(str(v), "D")
            except (ValueError, TypeError):
                d = None
            if d is None or np.isnat(d):
                raise ExperimentError(path, key, f"cannot parse {v!r} as a date; expected YYYY-MM-DD")
            days.append(d)
        if days[1] < days[0]:
            raise ExperimentError(path, key, f"the period is reversed: start {days[0]} is after end {days[1]}")
        return cls(days[0], days[1])

    @property
    def n_days(self) -> int:
        """Number of days, both ends included."""
        return int((self.end - self.start).astype(int)) + 1

    def days(self) -> np.ndarray:
        """The days of the period (``datetime64[D]``)."""
        return np.arange(self.start, self.end + np.timedelta64(1, "D"), dtype="datetime64[D]")

    def as_list(self) -> list[str]:
        return [str(self.start), str(self.end)]

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class SiteSpec:
    """One site of an experiment (see the module docstring for the keys)."""

    id: str
    file: str
    era_file: str | None = None
    pft: str | None = None
    lat: float | None = None
    diurnal_range: Any = None  # None, "as_is", float [K] or 12 floats [K]
    constant_forcing: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    exclude: str | None = None
    reader: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class StreamSpec:
    """One observation stream: its :class:`~bayeslsm.obs.StreamConfig` and the experiment-only options."""

    config: Any  # StreamConfig
    resample: bool = False

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class DataOptions:
    """Reader defaults and site-selection policies (``[data]``)."""

    reader: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    unknown_pft: str = "error"
    incomplete: str = "error"
    pft_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SamplerSettings:
    """``[sampler]``: method and its settings."""

    method: str = "nuts"
    chains: int = 4
    warmup: int = 500
    draws: int = 500
    dense_mass: bool = False
    target_accept: float = 0.8
    max_tree_depth: int = 10
    seed: int = 0
    steps: int = 3000
    learning_rate: float = 0.01
    prior_draws: int = 200


@dataclass(frozen=True)
class SkillSettings:
    """``[skill]``: the predictive interval and the number of posterior draws for held-out prediction."""

    prob: float = 0.9
    draws: int = 400


@dataclass(frozen=True)
class Experiment:
    """A validated experiment (:func:`load_experiment`).

    Attributes
    ----------
    name, description, model
        Identification and the process model name.
    sites
        :class:`SiteSpec` per ``[[sites]]`` entry, excluded ones included (with their reason).
    calibration, validation
        :class:`Period`; ``validation`` is ``None`` without a held-out period.
    streams
        :class:`StreamSpec` per stream.
    free, fixed, fixed_by_pft
        Free parameter names; fixed values; per-PFT fixed values.
    hierarchy
        :class:`~bayeslsm.infer.Hierarchy` or ``None``.
    spinup, n_cycles, edc
        Spin-up method and cycles; EDC specification (``None``, ``True`` or names).
    data, sampler, skill
        :class:`DataOptions`, :class:`SamplerSettings`, :class:`SkillSettings`.
    path, text
        The file and its text (``None`` for experiments built in code).
    """

    name: str
    model: str
    sites: tuple[SiteSpec, ...]
    calibration: Period
    streams: tuple[StreamSpec, ...]
    free: tuple[str, ...]
    validation: Period | None = None
    description: str = ""
    fixed: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    fixed_by_pft: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))
    hierarchy: Any = None
    spinup: str = "none"
    n_cycles: int = 5
    edc: Any = None
    data: DataOptions = field(default_factory=DataOptions)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    skill: SkillSettings = field(default_factory=SkillSettings)
    path: Path | None = None
    text: str | None = None

    @property
    def included_sites(self) -> tuple[SiteSpec, ...]:
        """Sites not marked ``exclude``."""
        return tuple(s for s in self.sites if s.exclude is None)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> "Experiment":
        """A copy with small overrides applied (tests, quick runs).

        Parameters
        ----------
        overrides
            Any of ``chains, warmup, draws, seed, method, max_tree_depth, prior_draws, steps`` (sampler),
            ``skill_draws``,
            ``sites`` (a list of site ids to keep, or an int: the first n included sites),
            ``calibration`` and ``validation`` (``[start, end]``; ``validation=None`` drops the held-out
            period), ``n_cycles`` (spin-up cycles), ``progress`` (ignored here; used by
            :func:`run_experiment`).

        Raises
        ------
        ExperimentError
            Unknown override keys, unknown sites, bad periods.
        """
        if not overrides:
            return self
        unknown = sorted(set(overrides) - set(_OVERRIDE_KEYS))
        if unknown:
            raise ExperimentError(self.path, "overrides", f"unknown override(s) {unknown}; expected some of "
                                                          f"{list(_OVERRIDE_KEYS)}")
        exp = self
        samp = {k: overrides[k] for k in ("chains", "warmup", "draws", "seed", "method", "max_tree_depth",
                                          "prior_draws", "steps")
                if overrides.get(k) is not None}
        if samp:
            d = dataclasses.asdict(exp.sampler)
            d.update(samp)
            exp = dataclasses.replace(exp, sampler=_sampler(d, exp.path))
        if overrides.get("n_cycles") is not None:
            exp = dataclasses.replace(exp, n_cycles=_int(overrides["n_cycles"], "overrides.n_cycles", exp.path, 1))
        if overrides.get("skill_draws") is not None:
            exp = dataclasses.replace(exp, skill=_skill({"prob": exp.skill.prob, "draws": overrides["skill_draws"]},
                                                        exp.path))
        if overrides.get("sites") is not None:
            keep = overrides["sites"]
            incl = [s.id for s in exp.included_sites]
            if isinstance(keep, int) and not isinstance(keep, bool):
                if keep < 1:
                    raise ExperimentError(exp.path, "overrides.sites", f"expected a positive number; got {keep}")
                keep = incl[:keep]
            keep = [str(k) for k in keep]
            missing = [k for k in keep if k not in incl]
            if missing:
                raise ExperimentError(exp.path, "overrides.sites", f"site(s) {missing} are not included sites of "
                                                                    f"this experiment; expected some of {incl}")
            exp = dataclasses.replace(exp, sites=tuple(s for s in exp.sites if s.id in keep))
        if "calibration" in overrides and overrides["calibration"] is not None:
            exp = dataclasses.replace(exp, calibration=Period.parse(overrides["calibration"], "overrides.calibration",
                                                                    exp.path))
        if "validation" in overrides:
            v = overrides["validation"]
            exp = dataclasses.replace(exp, validation=None if v is None else
                                      Period.parse(v, "overrides.validation", exp.path))
        _check_periods(exp.calibration, exp.validation, exp.path, "overrides")
        return exp


# --------------------------------------------------------------------------------------------------
# loading and validation


def _experiments_root():
    """``models/experiments`` as packaged (``bayeslsm._models.experiments``) or in the source tree."""
    try:
        root = importlib.resources.files("bayeslsm._models.experiments")
        if root.is_dir():
            return root
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[1] / "models" / "experiments"


def available_experiments() -> tuple[str, ...]:
    """Names of the experiments shipped with bayeslsm (``models/experiments/*.toml``).

    Examples
    --------
    >>> "fr-pue" in available_experiments()
    True
    """
    root = _experiments_root()
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml") and p.is_file()))


def _check_keys(d: Mapping, allowed: Sequence[str], path, key: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ExperimentError(path, key or None, f"unknown key(s) {unknown}; expected some of {list(allowed)}")


def _table(raw: Mapping, name: str, path, required: bool = False) -> dict:
    v = raw.get(name)
    if v is None:
        if required:
            raise ExperimentError(path, name, f"missing required table [{name}]")
        return {}
    if not isinstance(v, Mapping):
        raise ExperimentError(path, name, f"expected a table [{name}]; found {type(v).__name__}")
    return dict(v)


def _int(v, key, path, minimum=0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ExperimentError(path, key, f"expected a whole number >= {minimum}; found {v!r}")
    return int(v)


def _float(v, key, path, lo=-math.inf, hi=math.inf, open_lo=False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ExperimentError(path, key, f"expected a number; found {v!r}")
    if v < lo or v > hi or (open_lo and v == lo):
        raise ExperimentError(path, key, f"expected a number in {'(' if open_lo else '['}{lo:g}, {hi:g}]; found {v!r}")
    return float(v)


def _str(v, key, path, choices=None) -> str:
    if not isinstance(v, str) or not v:
        raise ExperimentError(path, key, f"expected a non-empty string; found {v!r}")
    if choices is not None and v not in choices:
        raise ExperimentError(path, key, f"expected one of {list(choices)}; found {v!r}")
    return v


def _bool(v, key, path) -> bool:
    if not isinstance(v, bool):
        raise ExperimentError(path, key, f"expected true or false; found {v!r}")
    return v


def _reader_options(d: Mapping, key: str, path) -> dict:
    out = {}
    if "qc_threshold" in d:
        v = d["qc_threshold"]
        out["qc_threshold"] = None if v == "none" else _float(v, f"{key}.qc_threshold", path, 0.0, 1.0)
    if "qc_missing" in d:
        out["qc_missing"] = _str(d["qc_missing"], f"{key}.qc_missing", path, ("warn", "ignore", "raise"))
    if "partitioning" in d:
        out["partitioning"] = _str(d["partitioning"], f"{key}.partitioning", path, ("NT", "DT"))
    if "le_column" in d:
        out["le_column"] = _str(d["le_column"], f"{key}.le_column", path, ("LE_F_MDS", "LE_CORR"))
    return out


def _sampler(d: Mapping, path) -> SamplerSettings:
    k = "sampler"
    kw = {}
    if "method" in d:
        kw["method"] = _str(d["method"], f"{k}.method", path, _METHODS)
    for name, minimum in (("chains", 1), ("warmup", 1), ("draws", 1), ("max_tree_depth", 1), ("steps", 1),
                          ("prior_draws", 0), ("seed", 0)):
        if name in d:
            kw[name] = _int(d[name], f"{k}.{name}", path, minimum)
    if "dense_mass" in d:
        kw["dense_mass"] = _bool(d["dense_mass"], f"{k}.dense_mass", path)
    if "target_accept" in d:
        kw["target_accept"] = _float(d["target_accept"], f"{k}.target_accept", path, 0.0, 1.0, open_lo=True)
        if kw["target_accept"] >= 1.0:
            raise ExperimentError(path, f"{k}.target_accept",
                                  f"expected a number in (0, 1); found {d['target_accept']}")
    if "learning_rate" in d:
        kw["learning_rate"] = _float(d["learning_rate"], f"{k}.learning_rate", path, 0.0, math.inf, open_lo=True)
    return SamplerSettings(**kw)


def _skill(d: Mapping, path) -> SkillSettings:
    kw = {}
    if "prob" in d:
        kw["prob"] = _float(d["prob"], "skill.prob", path, 0.0, 1.0, open_lo=True)
        if kw["prob"] >= 1.0:
            raise ExperimentError(path, "skill.prob", f"expected a probability in (0, 1); found {d['prob']}")
    if "draws" in d:
        kw["draws"] = _int(d["draws"], "skill.draws", path, 1)
    return SkillSettings(**kw)


def _check_periods(cal: Period, val: Period | None, path, key: str = "periods") -> None:
    if val is not None and val.start <= cal.end:
        raise ExperimentError(
            path, f"{key}.validation",
            f"the validation (held-out) period {val} overlaps or precedes the calibration period {cal}; it must "
            f"start after {cal.end}")


def _diurnal_range(v, key, path):
    if v is None or v == "as_is":
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _float(v, key, path, 0.0, 40.0, open_lo=True)
    if isinstance(v, list) and len(v) == 12:
        return tuple(_float(x, f"{key}[{i}]", path, 0.0, 40.0, open_lo=True) for i, x in enumerate(v))
    raise ExperimentError(path, key, f"expected 'as_is', a diurnal temperature range in K (0 < D <= 40) or 12 "
                                     f"monthly values; found {v!r}")


def _resolve_file(name: str, base: Path | None):
    """Registered name -> the name itself; otherwise an existing path (relative to ``base``) or None."""
    from bayeslsm.data.cache import REGISTRY

    if name in REGISTRY:
        return name
    p = Path(name).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p) if p.is_file() else None


def _sites(raw_sites, path, catalogue, data: DataOptions) -> tuple[SiteSpec, ...]:
    if not isinstance(raw_sites, list) or not raw_sites:
        raise ExperimentError(path, "sites", "expected at least one [[sites]] table with `id` and `file`")
    base = Path(path).parent if path is not None else None
    out, seen = [], set()
    for i, s in enumerate(raw_sites):
        key = f"sites[{i}]"
        if not isinstance(s, Mapping):
            raise ExperimentError(path, key, f"expected a table with `id` and `file`; found {s!r}")
        _check_keys(s, _SITE_KEYS, path, key)
        for req in ("id", "file"):
            if req not in s:
                raise ExperimentError(path, f"{key}.{req}", f"missing required key {req!r}")
        sid = _str(s["id"], f"{key}.id", path)
        if not _SITE_RE.match(sid):
            raise ExperimentError(path, f"{key}.id", f"expected a FLUXNET site id 'CC-Xxx'; found {sid!r}")
        if sid in seen:
            raise ExperimentError(path, f"{key}.id", f"site {sid!r} is listed twice")
        seen.add(sid)
        files = {}
        for fk in ("file", "era_file"):
            if fk in s:
                name = _str(s[fk], f"{key}.{fk}", path)
                resolved = _resolve_file(name, base)
                if resolved is None:
                    raise ExperimentError(
                        path, f"{key}.{fk}",
                        f"{name!r} is neither a registered data file (bayeslsm.data.cache.REGISTRY) nor an existing "
                        f"file (relative paths are taken from the experiment's folder {base})")
                files[fk] = resolved
        pft = s.get("pft")
        if pft is not None:
            pft = _str(pft, f"{key}.pft", path)
            mapped = data.pft_map.get(pft, pft)
            if mapped not in catalogue.pfts and data.unknown_pft == "error" and "exclude" not in s:
                raise ExperimentError(
                    path, f"{key}.pft",
                    f"PFT {pft!r} has no priors in the {catalogue.model!r} catalogue; expected one of "
                    f"{sorted(catalogue.pfts)} (or map it in [data].pft_map, or set unknown_pft = 'exclude')")
        lat = s.get("lat")
        if lat is not None:
            lat = _float(lat, f"{key}.lat", path, -90.0, 90.0)
        cf = s.get("constant_forcing", {})
        if not isinstance(cf, Mapping):
            raise ExperimentError(path, f"{key}.constant_forcing",
                                  f"expected a table {{variable = value}}; found {cf!r}")
        cf = {str(k): _float(v, f"{key}.constant_forcing.{k}", path) for k, v in cf.items()}
        exclude = s.get("exclude")
        if exclude is not None:
            exclude = _str(exclude, f"{key}.exclude", path)
        out.append(SiteSpec(
            id=sid, file=files["file"], era_file=files.get("era_file"), pft=pft, lat=lat,
            diurnal_range=_diurnal_range(s.get("diurnal_range"), f"{key}.diurnal_range", path),
            constant_forcing=MappingProxyType(cf), exclude=exclude,
            reader=MappingProxyType(_reader_options(s, key, path)),
        ))
    if not any(s.exclude is None for s in out):
        raise ExperimentError(path, "sites", "every site is excluded; at least one must remain")
    return tuple(out)


def _streams(raw_streams, path, model) -> tuple[StreamSpec, ...]:
    from bayeslsm.obs import ConfigurationError
    from bayeslsm.obs.config import StreamConfig

    if not isinstance(raw_streams, list) or not raw_streams:
        raise ExperimentError(path, "streams", "expected at least one [[streams]] table with a `name`")
    out, names = [], set()
    for i, s in enumerate(raw_streams):
        key = f"streams[{i}]"
        if not isinstance(s, Mapping):
            raise ExperimentError(path, key, f"expected a table; found {s!r}")
        d = dict(s)
        extra = {k: d.pop(k) for k in _STREAM_EXTRA_KEYS if k in d}
        try:
            cfg = StreamConfig.from_dict(d)
        except ConfigurationError as err:
            raise ExperimentError(path, key, f"{err} (experiment-only keys: {list(_STREAM_EXTRA_KEYS)})") from None
        if cfg.name not in OBSERVATION_VARIABLES:
            raise ExperimentError(path, f"{key}.name", f"unknown stream {cfg.name!r}: the readers provide observations "
                                                      f"{list(OBSERVATION_VARIABLES)}")
        if cfg.variable not in model.Outputs._fields:
            raise ExperimentError(path, f"{key}.variable", f"model {model.name!r} has no output {cfg.variable!r}; "
                                                          f"outputs are {list(model.Outputs._fields)}")
        if cfg.name in names:
            raise ExperimentError(path, f"{key}.name", f"stream {cfg.name!r} is configured twice")
        names.add(cfg.name)
        resample = _bool(extra.get("resample", False), f"{key}.resample", path)
        if resample and cfg.support in ("daily", "instant"):
            raise ExperimentError(path, f"{key}.resample",
                                  f"resample = true needs a composite support (e.g. '8D-year', 'monthly'); the "
                                  f"stream's support is {cfg.support!r}")
        out.append(StreamSpec(cfg, resample))
    return tuple(out)


def _parameters(p: Mapping, path, catalogue) -> tuple[tuple[str, ...], dict, dict]:
    specs = catalogue.parameters
    free = p.get("free")
    if not isinstance(free, list) or not free or not all(isinstance(x, str) for x in free):
        raise ExperimentError(path, "parameters.free", f"expected a non-empty list of parameter names; found {free!r}")
    for n in free:
        if n not in specs:
            raise ExperimentError(path, "parameters.free", f"unknown parameter {n!r} for model {catalogue.model!r}; "
                                                           f"expected catalogue names {sorted(specs)}")
    if len(set(free)) != len(free):
        raise ExperimentError(path, "parameters.free", f"a parameter is listed twice: {free}")
    fixed = p.get("fixed", {})
    if not isinstance(fixed, Mapping):
        raise ExperimentError(path, "parameters.fixed", f"expected a table {{name = value}}; found {fixed!r}")
    fixed_out = {}
    for n, v in fixed.items():
        key = f"parameters.fixed.{n}"
        if n not in specs:
            raise ExperimentError(path, key, f"unknown parameter {n!r}; expected catalogue names {sorted(specs)}")
        if n in free:
            raise ExperimentError(path, key, f"parameter {n!r} is both free and fixed")
        fixed_out[n] = _float(v, key, path, specs[n].lower, specs[n].upper)
    fbp = p.get("fixed_by_pft", {})
    if not isinstance(fbp, Mapping):
        raise ExperimentError(path, "parameters.fixed_by_pft", f"expected a table {{name = {{PFT = value}}}}; "
                                                               f"found {fbp!r}")
    fbp_out = {}
    for n, table in fbp.items():
        key = f"parameters.fixed_by_pft.{n}"
        if n not in specs:
            raise ExperimentError(path, key, f"unknown parameter {n!r}; expected catalogue names {sorted(specs)}")
        if n in free or n in fixed_out:
            raise ExperimentError(path, key, f"parameter {n!r} is also free or in `fixed`")
        if not isinstance(table, Mapping) or not table:
            raise ExperimentError(path, key, f"expected a table {{PFT = value}}; found {table!r}")
        for pft in table:
            if pft not in catalogue.pfts:
                raise ExperimentError(path, f"{key}.{pft}", f"unknown PFT {pft!r}; expected one of "
                                                            f"{sorted(catalogue.pfts)}")
        fbp_out[n] = MappingProxyType({pft: _float(v, f"{key}.{pft}", path, specs[n].lower, specs[n].upper)
                                       for pft, v in table.items()})
    return tuple(free), fixed_out, fbp_out


def load_experiment(path_or_name: str | os.PathLike) -> Experiment:
    """Read and validate an experiment file.

    Parameters
    ----------
    path_or_name
        A TOML file, or the name of a shipped experiment (:func:`available_experiments`), e.g. ``"fr-pue"``.

    Returns
    -------
    Experiment

    Raises
    ------
    ExperimentError
        Naming the file and the key: invalid TOML, unknown keys, unknown model, stream or parameter,
        periods that do not parse, are reversed or overlap, data files that are neither registered nor
        present, bad sampler settings.
    FileNotFoundError
        No such file or shipped experiment.

    Examples
    --------
    >>> exp = load_experiment("fr-pue")
    >>> exp.model, str(exp.calibration), str(exp.validation)
    ('dalec2_water', '2000-01-01..2009-12-31', '2010-01-01..2014-12-31')
    """
    p = Path(path_or_name)
    if not p.is_file():
        name = str(path_or_name)
        if not name.endswith(".toml") and "/" not in name and os.sep not in name:
            res = _experiments_root().joinpath(f"{name}.toml")
            if res.is_file():
                with importlib.resources.as_file(res) as f:
                    return _load(Path(f), res.read_text(encoding="utf-8"))
            raise FileNotFoundError(f"no experiment file {name!r} and no shipped experiment of that name; shipped: "
                                    f"{list(available_experiments())}")
        raise FileNotFoundError(f"experiment file '{p}' not found")
    return _load(p, p.read_text(encoding="utf-8"))


def _load(path: Path, text: str) -> Experiment:
    from bayeslsm.infer.parameters import Hierarchy
    from bayeslsm.lsm import MODELS
    from bayeslsm.lsm.spinup import SPINUP_METHODS
    from bayeslsm.priors.catalogue import load_catalogue

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ExperimentError(path, None, f"not valid TOML: {err}") from None
    _check_keys(raw, _TOP_KEYS, path, "")
    ex = _table(raw, "experiment", path, required=True)
    _check_keys(ex, _EXPERIMENT_KEYS, path, "experiment")
    for req in ("name", "model"):
        if req not in ex:
            raise ExperimentError(path, f"experiment.{req}", f"missing required key {req!r}")
    name = _str(ex["name"], "experiment.name", path)
    if not _NAME_RE.match(name):
        raise ExperimentError(path, "experiment.name", f"expected letters, digits, '-', '_' or '.'; found {name!r}")
    model_name = _str(ex["model"], "experiment.model", path)
    if model_name not in MODELS:
        raise ExperimentError(path, "experiment.model",
                              f"unknown model {model_name!r}; expected one of {sorted(MODELS)}")
    model = MODELS[model_name]()
    catalogue = load_catalogue(model_name)
    spinup = _str(ex.get("spinup", "none"), "experiment.spinup", path, SPINUP_METHODS)
    n_cycles = _int(ex.get("n_cycles", 5), "experiment.n_cycles", path, 1)
    edc = ex.get("edc")
    if edc is not None:
        from bayeslsm.priors.edc import EDC_NAMES

        if isinstance(edc, bool):
            edc = edc or None
        elif isinstance(edc, list) and all(isinstance(e, str) for e in edc):
            bad = [e for e in edc if e not in EDC_NAMES]
            if bad:
                raise ExperimentError(path, "experiment.edc", f"unknown EDC name(s) {bad}; expected any of "
                                                              f"{list(EDC_NAMES)}")
            edc = tuple(edc) or None
        else:
            raise ExperimentError(path, "experiment.edc", f"expected true, false or a list of EDC names; found {edc!r}")
        if edc is not None and model_name not in ("dalec2", "dalec2_water"):
            raise ExperimentError(path, "experiment.edc", f"EDCs are defined for DALEC2 models only; model is "
                                                          f"{model_name!r}")

    periods = _table(raw, "periods", path, required=True)
    _check_keys(periods, _PERIOD_KEYS, path, "periods")
    if "calibration" not in periods:
        raise ExperimentError(path, "periods.calibration", "missing required key 'calibration' ([start, end])")
    cal = Period.parse(periods["calibration"], "periods.calibration", path)
    val = Period.parse(periods["validation"], "periods.validation", path) if "validation" in periods else None
    _check_periods(cal, val, path)

    d = _table(raw, "data", path)
    _check_keys(d, _DATA_KEYS, path, "data")
    pft_map = d.get("pft_map", {})
    if not isinstance(pft_map, Mapping):
        raise ExperimentError(path, "data.pft_map", f"expected a table {{PFT = catalogue PFT}}; found {pft_map!r}")
    for k, v in pft_map.items():
        if v not in catalogue.pfts:
            raise ExperimentError(path, f"data.pft_map.{k}", f"maps to {v!r}, which is not a catalogue PFT; expected "
                                                             f"one of {sorted(catalogue.pfts)}")
    data = DataOptions(
        reader=MappingProxyType(_reader_options(d, "data", path)),
        unknown_pft=_str(d.get("unknown_pft", "error"), "data.unknown_pft", path, ("error", "exclude")),
        incomplete=_str(d.get("incomplete", "error"), "data.incomplete", path, ("error", "exclude")),
        pft_map=MappingProxyType({str(k): str(v) for k, v in pft_map.items()}),
    )
    sites = _sites(raw.get("sites"), path, catalogue, data)
    streams = _streams(raw.get("streams"), path, model)

    pt = _table(raw, "parameters", path, required=True)
    _check_keys(pt, _PARAMETER_KEYS, path, "parameters")
    free, fixed, fixed_by_pft = _parameters(pt, path, catalogue)

    hierarchy = None
    h = _table(raw, "hierarchy", path)
    if h:
        _check_keys(h, _HIERARCHY_KEYS, path, "hierarchy")
        params = h.get("params", [])
        if not isinstance(params, list) or not all(isinstance(x, str) for x in params):
            raise ExperimentError(path, "hierarchy.params",
                                  f"expected a list of free parameter names; found {params!r}")
        for n in params:
            if n not in free:
                raise ExperimentError(path, "hierarchy.params", f"{n!r} is not in parameters.free {list(free)}")
        kw = {"params": tuple(params)}
        if "mode" in h:
            kw["mode"] = _str(h["mode"], "hierarchy.mode", path, ("partial", "pooled", "unpooled"))
        if "centered" in h:
            kw["centered"] = _bool(h["centered"], "hierarchy.centered", path)
        for k in ("pft_scale", "site_scale"):
            if k in h:
                kw[k] = _float(h[k], f"hierarchy.{k}", path, 0.0, math.inf, open_lo=True)
        hierarchy = Hierarchy(**kw)

    s = _table(raw, "sampler", path)
    _check_keys(s, _SAMPLER_KEYS, path, "sampler")
    sk = _table(raw, "skill", path)
    _check_keys(sk, _SKILL_KEYS, path, "skill")
    return Experiment(
        name=name, model=model_name, sites=sites, calibration=cal, validation=val, streams=streams, free=free,
        description=str(ex.get("description", "")), fixed=MappingProxyType(fixed),
        fixed_by_pft=MappingProxyType(fixed_by_pft), hierarchy=hierarchy, spinup=spinup, n_cycles=n_cycles, edc=edc,
        data=data, sampler=_sampler(s, path), skill=_skill(sk, path), path=path, text=text,
    )


# --------------------------------------------------------------------------------------------------
# data


@dataclass
class SiteData:
    """What :func:`prepare_data` found for one site."""

    id: str
    pft: str | None = None
    forcing: Any = None  # xarray.Dataset on the full window (calibration start .. last end)
    obs: Any = None
    calibrated: bool = False
    validated: bool = False
    reason: str | None = None  # why the site is excluded / not validated
    notes: list[str] = field(default_factory=list)


@dataclass
class PreparedData:
    """Forcing and observations of the usable sites (:func:`prepare_data`)."""

    sites: list[SiteData]
    calibration: tuple[Any, Any] | None  # (forcing, obs) with dims (site, time)
    validation: tuple[Any, Any] | None  # on the calibration + validation window, validated sites only

    @property
    def excluded(self) -> dict[str, str]:
        return {s.id: s.reason for s in self.sites if not s.calibrated}

    @property
    def not_validated(self) -> dict[str, str]:
        return {s.id: s.reason for s in self.sites if s.calibrated and not s.validated}

    @property
    def notes(self) -> dict[str, list[str]]:
        return {s.id: list(s.notes) for s in self.sites if s.notes}


def _file_path(name: str) -> Path:
    from bayeslsm.data.cache import REGISTRY, fetch

    return fetch(name) if name in REGISTRY else Path(name)


def _model_forcing_vars(model) -> list[str]:
    from bayeslsm.infer.forcing import DERIVED_FORCING

    return [f for f in model.Forcing._fields if f not in DERIVED_FORCING]


def _read_site(exp: Experiment, site: SiteSpec, window: Period, model):
    """(forcing, obs, notes, pft) of one site on ``window`` (days outside the file are NaN)."""
    from bayeslsm.data.fluxnet import DataQualityWarning, read_fluxnet

    opts = dict(exp.data.reader)
    opts.update(site.reader)
    path = _file_path(site.file)
    era = _file_path(site.era_file) if site.era_file else None
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        forcing, obs = read_fluxnet(path, site=site.id, lat=site.lat, pft=site.pft, era_path=era,
                                    start=str(window.start), end=str(window.end), **opts)
    quality = [w for w in caught if issubclass(w.category, DataQualityWarning)]
    for w in caught:  # other warnings are not ours to handle: pass them on unchanged
        if not issubclass(w.category, DataQualityWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    # zero diurnal range (reader rule: tmin == tmax on >= 99 % of days)
    tmin, tmax, ta = (np.asarray(forcing[v].values, dtype=float) for v in ("tmin", "tmax", "ta"))
    ok = np.isfinite(tmin) & np.isfinite(tmax)
    flat = ok.any() and np.isclose(tmin, tmax)[ok].sum() >= 0.99 * ok.sum()
    handled_dtr = False
    if flat:
        if site.diurnal_range is None:
            raise ExperimentError(
                exp.path, f"sites[id={site.id}].diurnal_range",
                f"site {site.id!r} ({Path(path).name}): tmin == tmax == ta on every day (the product has no diurnal "
                f"range; DALEC's ACM divides by the range). Set diurnal_range = 'as_is' to accept it, or a range "
                f"in K (one value or 12 monthly values) to impose tmin = ta - D/2, tmax = ta + D/2")
        handled_dtr = True
        if site.diurnal_range == "as_is":
            notes.append("tmin == tmax == ta in the file (no diurnal range); kept as is (diurnal_range = 'as_is')")
        else:
            months = np.asarray(forcing["time"].dt.month.values) - 1
            dtr = np.asarray(site.diurnal_range, dtype=float)
            d = dtr[months] if dtr.ndim == 1 else np.full(ta.shape, float(dtr))
            forcing["tmin"] = forcing["tmin"].copy(data=ta - 0.5 * d)
            forcing["tmax"] = forcing["tmax"].copy(data=ta + 0.5 * d)
            rule = (f"tmin = ta - D/2, tmax = ta + D/2 with D = {site.diurnal_range} K"
                    + (" (monthly, Jan..Dec)" if dtr.ndim == 1 else ""))
            for v in ("tmin", "tmax"):
                forcing[v].attrs.update(derivation=f"experiment {exp.name!r}: {rule}")
            notes.append(f"tmin == tmax == ta in the file (no diurnal range); imposed {rule}")
    elif site.diurnal_range is not None:
        raise ExperimentError(exp.path, f"sites[id={site.id}].diurnal_range",
                              f"site {site.id!r} ({Path(path).name}) has a diurnal temperature range in its file; "
                              f"remove diurnal_range (it would overwrite measured tmin/tmax)")
    for w in quality:
        msg = str(w.message)
        if handled_dtr and "diurnal" in msg:
            continue
        notes.append(f"reader: {msg}")
        warnings.warn(msg, DataQualityWarning, stacklevel=3)

    for var, value in site.constant_forcing.items():
        if var not in forcing.data_vars:
            raise ExperimentError(exp.path, f"sites[id={site.id}].constant_forcing.{var}",
                                  f"unknown forcing variable {var!r}; expected one of {sorted(forcing.data_vars)}")
        n_bad = int((~np.isfinite(forcing[var].values)).sum())
        forcing[var] = forcing[var].copy(data=np.full(forcing.sizes["time"], value))
        forcing[var].attrs["derivation"] = f"experiment {exp.name!r}: constant {value:g} (replaces the file's values)"
        missing = f" ({n_bad} missing days in the file)" if n_bad else ""
        notes.append(f"{var} replaced by the constant {value:g}{missing}")

    era_note = forcing.attrs.get("era_filled_days")
    if era_note:
        notes.append(f"gap-filled from {forcing.attrs.get('era_file')}: {era_note}")
    if obs.attrs.get("unfiltered_streams"):
        notes.append(f"not QC-filtered (QC absent or empty): {obs.attrs['unfiltered_streams']}")
    if obs.attrs.get("empty_streams"):
        notes.append(f"empty in the file: {obs.attrs['empty_streams']}")
    if "LAI" in obs and obs["LAI"].attrs.get("n_masked_before_modis"):
        notes.append(f"LAI: {obs['LAI'].attrs['n_masked_before_modis']} days before MODIS (2002-07-04) masked")

    days = window.days().astype("datetime64[ns]")
    keep_f = _model_forcing_vars(model) + (["doy"] if "doy" in forcing else [])
    forcing = forcing[[v for v in keep_f if v in forcing.data_vars]].reindex(time=days)
    if "doy" in forcing:  # a day outside the file's record still has a day of year
        t = days.astype("datetime64[D]")
        forcing["doy"] = forcing["doy"].copy(data=((t - t.astype("datetime64[Y]")).astype(int) + 1).astype(float))
    obs_vars = [v for v in obs.data_vars if v in OBSERVATION_VARIABLES]
    obs = obs[obs_vars].reindex(time=days)
    pft = str(forcing.coords["pft"].item()) if "pft" in forcing.coords else None
    return forcing, obs, notes, pft


def _complete(forcing, period: Period) -> str | None:
    """None when every forcing variable is finite on every day of ``period``; else the reason."""
    sel = forcing.sel(time=slice(np.datetime64(period.start, "ns"), np.datetime64(period.end, "ns")))
    if sel.sizes["time"] != period.n_days:
        return f"the file does not cover {period}"
    bad = {v: int((~np.isfinite(sel[v].values)).sum()) for v in sel.data_vars}
    bad = {v: n for v, n in bad.items() if n}
    if bad:
        return f"forcing missing in {period}: " + ", ".join(f"{v} ({n} days)" for v, n in bad.items())
    return None


def _resample(values: np.ndarray, days: np.ndarray, support: str) -> np.ndarray:
    """Daily ``values`` (site, time) -> means over complete periods of ``support``, stamped on period starts."""
    from bayeslsm.obs import support_grid
    from bayeslsm.obs.operators import build_operator

    starts = np.asarray(support_grid(support, days), dtype="datetime64[D]")
    out = np.full(values.shape, np.nan)
    if starts.size == 0:
        return out
    idx = build_operator(support, "mean", days, starts, name="resample")
    for a, b in zip(np.asarray(idx.start), np.asarray(idx.stop)):
        block = values[:, a:b]
        full = np.isfinite(block).all(axis=1)
        out[full, a] = block[full].mean(axis=1)
    return out


def _stack(site_data: list[SiteData], period: Period, exp: Experiment):
    """Multi-site (forcing, obs) on ``period`` for the given sites, streams resampled as configured."""
    import xarray as xr

    t0, t1 = np.datetime64(period.start, "ns"), np.datetime64(period.end, "ns")
    fs, os_ = [], []
    for sd in site_data:
        f = sd.forcing.sel(time=slice(t0, t1)).drop_vars(["site", "lat", "lon", "pft"], errors="ignore")
        o = sd.obs.sel(time=slice(t0, t1)).drop_vars(["site", "lat", "lon", "pft"], errors="ignore")
        fs.append(f.expand_dims(site=[sd.id]))
        os_.append(o.expand_dims(site=[sd.id]))
    forcing = xr.concat(fs, dim="site", join="exact", combine_attrs="drop")
    lats = [float(sd.forcing.coords["lat"].item()) for sd in site_data]
    forcing = forcing.assign_coords(lat=("site", lats), pft=("site", [sd.pft for sd in site_data]))
    names = [s.name for s in exp.streams]
    obs = xr.concat(os_, dim="site", join="outer", combine_attrs="drop", data_vars="all")
    obs = obs[[v for v in names if v in obs.data_vars]]
    days = np.asarray(forcing["time"].values, dtype="datetime64[D]")
    for spec in exp.streams:
        if spec.name not in obs:
            continue
        vals = np.asarray(obs[spec.name].transpose("site", "time").values, dtype=float)
        if spec.resample:
            vals = _resample(vals, days, spec.config.support)
        obs[spec.name] = (("site", "time"), vals)
    return forcing, obs


def prepare_data(exp: Experiment) -> PreparedData:
    """Read every included site on the calibration (+ validation) window and decide which sites are used.

    A site is calibrated when its forcing is complete over the calibration period and its PFT has
    catalogue priors (after ``[data].pft_map``); it is validated when its forcing is also complete over
    the validation period. Sites that fail are excluded (``[data].incomplete = "exclude"`` /
    ``unknown_pft = "exclude"``, with the reason) or raise :class:`ExperimentError`.

    Returns
    -------
    PreparedData
        ``calibration``: (forcing, obs) on the calibration period; ``validation``: (forcing, obs) on the
        calibration start .. validation end, validated sites only (``None`` without a held-out period or
        without validated sites).
    """
    from bayeslsm.lsm import MODELS
    from bayeslsm.priors.catalogue import load_catalogue

    model = MODELS[exp.model]()
    catalogue = load_catalogue(exp.model)
    window = Period(exp.calibration.start, (exp.validation or exp.calibration).end)
    out: list[SiteData] = []
    for site in exp.sites:
        sd = SiteData(site.id)
        out.append(sd)
        if site.exclude is not None:
            sd.reason = f"excluded in the experiment file: {site.exclude}"
            continue
        sd.forcing, sd.obs, sd.notes, pft = _read_site(exp, site, window, model)
        sd.pft = exp.data.pft_map.get(pft, pft) if pft else None
        if sd.pft != pft:
            sd.notes.append(f"PFT {pft} mapped to {sd.pft} ([data].pft_map)")
        if sd.pft not in catalogue.pfts:
            reason = (f"PFT {pft!r} has no priors in the {exp.model!r} catalogue (catalogue PFTs: "
                      f"{sorted(catalogue.pfts)})")
            if exp.data.unknown_pft == "error":
                raise ExperimentError(exp.path, "data.unknown_pft",
                                      f"site {site.id!r}: {reason}; set its `pft`, map it in [data].pft_map or set "
                                      f"unknown_pft = 'exclude'")
            sd.reason = f"unknown PFT: {reason}"
            continue
        why = _complete(sd.forcing, exp.calibration)
        if why is not None:
            if exp.data.incomplete == "error":
                raise ExperimentError(exp.path, "data.incomplete",
                                      f"site {site.id!r}: {why}; fix the data (e.g. an era_file), shorten the "
                                      f"period, or set incomplete = 'exclude'")
            sd.reason = f"incomplete forcing: {why}"
            continue
        sd.calibrated = True
        if exp.validation is not None:
            why = _complete(sd.forcing, exp.validation)
            sd.validated = why is None
            if why is not None:
                sd.reason = f"not validated: {why}"
    cal_sites = [s for s in out if s.calibrated]
    if not cal_sites:
        raise ExperimentError(exp.path, "sites", "no site can be calibrated: " +
                              "; ".join(f"{s.id}: {s.reason}" for s in out))
    calibration = _stack(cal_sites, exp.calibration, exp)
    val_sites = [s for s in cal_sites if s.validated]
    validation = _stack(val_sites, window, exp) if val_sites else None
    return PreparedData(out, calibration, validation)


def _site_fixed(exp: Experiment, site_pfts: Sequence[str], catalogue) -> dict:
    fixed: dict[str, Any] = dict(exp.fixed)
    for name, table in exp.fixed_by_pft.items():
        default = catalogue.parameters[name].default
        fixed[name] = np.array([table.get(p, default) for p in site_pfts], dtype=float)
    return fixed


# --------------------------------------------------------------------------------------------------
# calibration and held-out skill


def _continued_calibration_class():
    from bayeslsm.infer import Calibration
    from bayeslsm.lsm.core import simulate
    from bayeslsm.lsm.spinup import spinup

    class _ContinuedCalibration(Calibration):
        """A Calibration whose spin-up sees only the first ``spinup_days`` days of the forcing.

        The calibration run spins up on its own (calibration-period) forcing; this class spins up on the
        same days and then simulates the whole, longer forcing, so its trajectories over the calibration
        period equal the calibration's.
        """

        def __init__(self, *args, spinup_days: int, **kwargs):
            self.spinup_days = int(spinup_days)
            super().__init__(*args, **kwargs)

        def _forward_impl(self, params, init, forcing):
            import jax

            model, method, n, k = self.model, self.spinup_method, self.n_cycles, self.spinup_days

            def one(p, f, i):
                window = jax.tree_util.tree_map(lambda x: x[:k], f)
                i = spinup(model, p, window, i, method=method, n_cycles=n)
                return simulate(model, p, f, i)

            return jax.vmap(one)(params, forcing, init)

    return _ContinuedCalibration


def build_calibration(exp: Experiment, forcing, obs, *, spinup_days: int | None = None):
    """The :class:`~bayeslsm.infer.Calibration` of ``exp`` on the given (multi-site) forcing and observations.

    ``spinup_days`` (held-out pass): spin up on the first ``spinup_days`` days only, then simulate all.
    EDCs are left out of the held-out pass (they only shape the posterior).

    Raises
    ------
    ExperimentError
        Wrapping the inference layer's ``ConfigurationError`` (unknown stream or parameter, no observations).
    """
    from bayeslsm.infer import Calibration
    from bayeslsm.obs import ConfigurationError
    from bayeslsm.priors.catalogue import load_catalogue

    catalogue = load_catalogue(exp.model)
    site_pfts = [str(p) for p in np.atleast_1d(forcing["pft"].values)]
    kwargs = dict(streams=[s.config for s in exp.streams], free=exp.free,
                  fixed=_site_fixed(exp, site_pfts, catalogue), hierarchy=exp.hierarchy, spinup=exp.spinup,
                  n_cycles=exp.n_cycles, catalogue=catalogue)
    try:
        if spinup_days is None:
            return Calibration(exp.model, forcing, obs, edc=exp.edc, **kwargs)
        cls = _continued_calibration_class()
        return cls(exp.model, forcing, obs, spinup_days=spinup_days, **kwargs)
    except (ConfigurationError, ValueError) as err:
        if isinstance(err, ExperimentError):
            raise
        raise ExperimentError(exp.path, None, f"cannot build the calibration: {err}") from err


def _sample(exp: Experiment, cal, progress: bool):
    s = exp.sampler
    if s.method == "nuts":
        return cal.nuts(chains=s.chains, warmup=s.warmup, draws=s.draws, dense_mass=s.dense_mass,
                        target_accept=s.target_accept, max_tree_depth=s.max_tree_depth, seed=s.seed,
                        progress=progress, prior_draws=s.prior_draws)
    method = cal.laplace if s.method == "laplace" else cal.svi
    return method(draws=s.draws, steps=s.steps, learning_rate=s.learning_rate, seed=s.seed,
                  prior_draws=s.prior_draws, progress=progress)


def _predictive_fn(cal, names: tuple[str, ...]):
    """jit(vmap((data, key) -> recorded stream sites)); ``data`` substituted (empty for prior draws)."""
    import jax
    import numpyro

    keep = []
    for sd in cal.streams:
        keep += [sd.config.name, f"_{sd.config.name}_model"]

    def one(data, key):
        model = numpyro.handlers.seed(cal.numpyro_model, key)
        if names:
            model = numpyro.handlers.substitute(model, data=data)
        tr = numpyro.handlers.trace(model).get_trace(obs=None, record=True)
        return {k: tr[k]["value"] for k in keep}

    return jax.jit(jax.vmap(one))


def _run_batches(fn, data: dict, keys, batch: int) -> dict:
    n = keys.shape[0]
    out: dict[str, list] = {}
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        idx = np.arange(start, start + batch) % n  # pad the last batch: same shapes, no recompile
        res = fn({k: v[idx] for k, v in data.items()}, keys[idx])
        for k, v in res.items():
            out.setdefault(k, []).append(np.asarray(v)[: stop - start])
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}


def _posterior_substitutions(cal, idata, n_max: int, group: str = "posterior") -> dict[str, np.ndarray]:
    """Flattened, thinned draws (``group``: posterior or prior) of the model's sample and deterministic
    sites, site-level values selected by site name."""
    post = idata[group]
    n_total = post.sizes["chain"] * post.sizes["draw"]
    take = np.unique(np.linspace(0, n_total - 1, min(n_max, n_total)).round().astype(int))
    sites = list(cal.sites)
    data = {}
    for name in cal._posterior_sites():
        if name not in post.data_vars:
            continue
        da = post[name]
        if "pft" in da.dims:
            continue  # PFT-level values only record; the site values are substituted below
        if "site" in da.dims:
            da = da.sel(site=sites).transpose("chain", "draw", "site", ...)
        v = np.asarray(da.values, dtype=float)
        data[name] = v.reshape((n_total,) + v.shape[2:])[take]
    return data


def _metrics(y: np.ndarray, model: np.ndarray, rep: np.ndarray, prob: float) -> dict:
    """RMSE and mean error of the predictive mean, interval coverage and width; draws on axis 0."""
    good = np.isfinite(model).all(axis=1) & np.isfinite(rep).all(axis=1)
    n_bad = int((~good).sum())
    model, rep = model[good], rep[good]
    if model.shape[0] == 0 or y.size == 0:
        return {"n_obs": int(y.size), "rmse": None, "mean_error": None, "coverage": None, "interval_width": None,
                "n_draws": int(model.shape[0]), "n_draws_nonfinite": n_bad}
    mean = model.mean(axis=0)
    lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {
        "n_obs": int(y.size),
        "rmse": float(np.sqrt(np.mean((mean - y) ** 2))),
        "mean_error": float(np.mean(mean - y)),
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "interval_width": float(np.mean(hi - lo)),
        "n_draws": int(model.shape[0]),
        "n_draws_nonfinite": n_bad,
    }


def heldout_skill(exp: Experiment, idata, forcing, obs, *, n_cal_days: int, seed: int = 0,
                  batch: int = 50) -> dict:
    """Prior and posterior predictive skill per stream on the calibration and validation periods.

    Parameters
    ----------
    exp
        The experiment (streams, parameters, spin-up, skill settings).
    idata
        The calibration's ``InferenceData`` (posterior group required).
    forcing, obs
        Forcing and observations on the calibration + validation window, at the validated sites.
    n_cal_days
        Length of the calibration period [d]: the spin-up window.
    seed
        Seed of the predictive noise and the prior draws.
    batch
        Draws per jitted batch.

    Returns
    -------
    dict
        ``streams[name][period][group]`` with ``period`` in (``calibration``, ``validation``) and
        ``group`` in (``prior``, ``posterior``) holding ``rmse``, ``mean_error``, ``coverage``,
        ``interval_width``, ``n_obs``, ``n_draws``; ``per_site`` the same per site (multi-site runs).
    """
    import jax

    cal = build_calibration(exp, forcing, obs, spinup_days=n_cal_days)
    prob = exp.skill.prob
    k_post, k_prior = jax.random.split(jax.random.PRNGKey(seed))
    post = _posterior_substitutions(cal, idata, exp.skill.draws)
    n_post = next(iter(post.values())).shape[0]
    fn = _predictive_fn(cal, tuple(post))
    rec = {"posterior": _run_batches(fn, post, jax.random.split(k_post, n_post), batch)}
    groups = ["posterior"]
    n_prior = 0
    if "prior" in idata.groups():
        # the calibration's stored prior draws, through the same compiled function
        prior = _posterior_substitutions(cal, idata, idata.prior.sizes["draw"] * idata.prior.sizes["chain"], "prior")
        prior = {k: v for k, v in prior.items() if k in post}
        n_prior = next(iter(prior.values())).shape[0]
        fn_prior = fn if set(prior) == set(post) else _predictive_fn(cal, tuple(prior))
        rec["prior"] = _run_batches(fn_prior, prior, jax.random.split(k_prior, n_prior), batch)
        groups.insert(0, "prior")

    val = exp.validation
    out: dict[str, Any] = {"prob": prob, "sites": list(cal.sites), "n_draws": {"posterior": n_post, "prior": n_prior},
                           "streams": {}}
    for sd in cal.streams:
        name = sd.config.name
        if sd.obs is None:
            continue
        t = sd.support_time
        in_val = (t >= val.start) & (t <= val.end)
        in_cal = t <= exp.calibration.end
        entry: dict[str, Any] = {}
        per_site: dict[str, Any] = {}
        for pname, sel_t in (("calibration", in_cal), ("validation", in_val)):
            mask = np.isfinite(sd.obs) & sel_t[None, :]
            si, ti = np.nonzero(mask)
            y = sd.obs[si, ti]
            entry[pname] = {g: _metrics(y, rec[g][f"_{name}_model"][:, si, ti], rec[g][name][:, si, ti], prob)
                            for g in groups}
            if cal.n_site > 1:
                for k, site in enumerate(cal.sites):
                    m = si == k
                    per_site.setdefault(site, {})[pname] = {
                        g: _metrics(y[m], rec[g][f"_{name}_model"][:, si[m], ti[m]], rec[g][name][:, si[m], ti[m]],
                                    prob) for g in groups}
        if per_site:
            entry["per_site"] = per_site
        out["streams"][name] = entry
    return out


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.datetime64, Path)):
        return str(obj)
    return obj


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _write_json(path: Path, obj) -> Path:
    return _write_text(path, json.dumps(_jsonable(obj), indent=1, allow_nan=False) + "\n")


def _run_info(exp: Experiment, data: PreparedData) -> dict:
    return {
        "name": exp.name,
        "description": exp.description,
        "file": str(exp.path) if exp.path else None,
        "model": exp.model,
        "calibration_period": exp.calibration.as_list(),
        "validation_period": exp.validation.as_list() if exp.validation else None,
        "sites_calibrated": {s.id: s.pft for s in data.sites if s.calibrated},
        "sites_excluded": data.excluded,
        "sites_not_validated": data.not_validated,
        "data_notes": data.notes,
        "streams": {s.name: {**s.config.to_dict(), "resample": s.resample} for s in exp.streams},
        "free": list(exp.free),
        "fixed": dict(exp.fixed),
        "fixed_by_pft": {k: dict(v) for k, v in exp.fixed_by_pft.items()},
        "hierarchy": None if exp.hierarchy is None else dataclasses.asdict(exp.hierarchy),
        "spinup": exp.spinup,
        "n_cycles": exp.n_cycles,
        "edc": exp.edc if exp.edc in (None, True) else list(exp.edc),
        "sampler": dataclasses.asdict(exp.sampler),
        "skill": dataclasses.asdict(exp.skill),
    }


def run_experiment(exp: Experiment | str | os.PathLike, out_dir: str | os.PathLike,
                   overrides: Mapping[str, Any] | None = None) -> dict:
    """Run an experiment end to end: data, calibration, ``posterior.nc``, held-out skill, report.

    Parameters
    ----------
    exp
        An :class:`Experiment`, a TOML file or a shipped experiment name.
    out_dir
        Output folder (created): ``posterior.nc`` (written atomically), ``skill.json``, ``report.md``
        and figures.
    overrides
        Small changes for tests and quick runs (:meth:`Experiment.with_overrides`), e.g.
        ``{"chains": 1, "warmup": 20, "draws": 20, "sites": ["FR-Pue"], "calibration": [...],
        "validation": [...]}``; ``progress`` (bool) shows the sampler's progress bar.

    Returns
    -------
    dict
        ``posterior``, ``skill``, ``report`` (paths), ``wall_seconds`` (``data``, ``sampling``, ``skill``,
        ``report``, ``total``), the sampling summary (max R-hat, min ESS, divergences) and the skill dict.

    Examples
    --------
    >>> res = run_experiment("fr-pue", "out/fr-pue", {"chains": 1, "warmup": 50, "draws": 50})  # doctest: +SKIP
    >>> res["skill"]["streams"]["NEE"]["validation"]["posterior"]["rmse"]  # doctest: +SKIP
    """
    from bayeslsm.diagnostics import summarize
    from bayeslsm.infer import save

    t_start = time.perf_counter()
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp)
    progress = bool((overrides or {}).get("progress", False))
    exp = exp.with_overrides(overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wall: dict[str, float] = {}

    t0 = time.perf_counter()
    data = prepare_data(exp)
    wall["data"] = time.perf_counter() - t0
    info = _run_info(exp, data)
    info["overrides"] = {k: v for k, v in (overrides or {}).items()}

    t0 = time.perf_counter()
    forcing, obs = data.calibration
    cal = build_calibration(exp, forcing, obs)
    idata = _sample(exp, cal, progress)
    wall["sampling"] = time.perf_counter() - t0
    for g in idata.groups():
        idata[g].attrs["experiment"] = json.dumps(_jsonable(info))
        if exp.text is not None:
            idata[g].attrs["experiment_toml"] = exp.text
    posterior_path = save(idata, out / "posterior.nc")

    t0 = time.perf_counter()
    skill: dict[str, Any] = {"experiment": exp.name, "calibration_period": exp.calibration.as_list(),
                             "validation_period": exp.validation.as_list() if exp.validation else None,
                             "sites_not_validated": data.not_validated, "sites_excluded": data.excluded}
    if exp.validation is None:
        skill["note"] = "no validation (held-out) period in the experiment"
    elif data.validation is None:
        skill["note"] = "no site has complete forcing over the validation period"
    else:
        vf, vo = data.validation
        skill.update(heldout_skill(exp, idata, vf, vo, n_cal_days=exp.calibration.n_days, seed=exp.sampler.seed + 1))
    wall["skill"] = time.perf_counter() - t0
    summary = summarize(idata, ci_prob=exp.skill.prob)
    skill["sampling"] = {k: summary.get(k) for k in ("max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences",
                                                     "n_chains", "n_draws", "sampling_wall_seconds")}
    skill_path = _write_json(out / "skill.json", skill)

    t0 = time.perf_counter()
    report_path = write_experiment_report(idata, out, skill=skill)
    wall["report"] = time.perf_counter() - t0
    wall["total"] = time.perf_counter() - t_start
    skill["wall_seconds"] = wall
    _write_json(skill_path, skill)
    return {"posterior": posterior_path, "skill_path": skill_path, "report": report_path, "wall_seconds": wall,
            "sampling": skill["sampling"], "skill": skill}


# --------------------------------------------------------------------------------------------------
# report


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _skill_tables(skill: Mapping) -> list[str]:
    L: list[str] = []
    streams = skill.get("streams") or {}
    if not streams:
        L.append(f"No held-out skill: {skill.get('note', 'not computed')}.")
        return L
    pct = round(100 * float(skill.get("prob", 0.9)))
    for period in ("validation", "calibration"):
        title = "Held-out years" if period == "validation" else "Calibration years (in-sample, for comparison)"
        rng = skill.get(f"{period}_period")
        L += [f"### {title}" + (f" ({rng[0]} .. {rng[1]})" if rng else ""), ""]
        L.append(f"| stream | n obs | RMSE prior | RMSE posterior | mean error prior | mean error posterior | "
                 f"{pct}% coverage prior | {pct}% coverage posterior |")
        L.append("|---|---|---|---|---|---|---|---|")
        for name, e in streams.items():
            po = e[period]["posterior"]
            pr = e[period].get("prior", dict.fromkeys(po))
            L.append(f"| {name} | {po['n_obs']} | {_fmt(pr['rmse'])} | {_fmt(po['rmse'])} | {_fmt(pr['mean_error'])} | "
                     f"{_fmt(po['mean_error'])} | {_fmt(pr['coverage'])} | {_fmt(po['coverage'])} |")
        L.append("")
    n = skill.get("n_draws", {})
    L.append(f"RMSE and mean error (prediction − observation) of the predictive mean (mean over draws of the "
             f"noise-free, biased prediction); coverage: fraction of observations inside the central {pct}% "
             f"interval of replicated observations (bias and noise included). Draws: {n.get('posterior')} posterior, "
             f"{n.get('prior')} prior. Sites: {', '.join(skill.get('sites', []))}.")
    per_site = {name: e["per_site"] for name, e in streams.items() if "per_site" in e}
    if per_site:
        L += ["", "#### Held-out RMSE per site (prior → posterior)", ""]
        sites = skill.get("sites", [])
        names = list(per_site)
        L.append("| site | " + " | ".join(names) + " |")
        L.append("|---|" + "---|" * len(names))
        for s in sites:
            cells = []
            for name in names:
                v = per_site[name].get(s, {}).get("validation")
                cells.append("–" if v is None or v["posterior"]["n_obs"] == 0 else
                             f"{_fmt(v.get('prior', {}).get('rmse'))} → {_fmt(v['posterior']['rmse'])}")
            L.append(f"| {s} | " + " | ".join(cells) + " |")
    return L


def write_experiment_report(idata_or_path, out_dir: str | os.PathLike | None = None,
                            skill: Mapping | None = None) -> Path:
    """Figures and ``report.md`` for an experiment run, with the held-out skill and (hierarchies) shrinkage.

    Calls :func:`bayeslsm.diagnostics.write_report` (traces, pairs, predictive checks, prior vs
    posterior, forest plot of site- and PFT-level values) and appends: the experiment set-up (sites
    used, excluded and not validated, with reasons; data notes), the held-out skill tables
    (``skill.json``) and, for hierarchical runs, one shrinkage plot per pooled parameter.

    Parameters
    ----------
    idata_or_path
        ``InferenceData`` or the path of ``posterior.nc``.
    out_dir
        Output folder; default the folder of ``posterior.nc``.
    skill
        The skill dict; default read from ``skill.json`` beside ``posterior.nc`` (or in ``out_dir``).

    Returns
    -------
    Path
        ``report.md``.
    """
    from bayeslsm.diagnostics import plot_shrinkage, write_report
    from bayeslsm.diagnostics.plots import _ensure_backend
    from bayeslsm.infer import load

    src_dir = None
    if isinstance(idata_or_path, (str, os.PathLike)):
        src = Path(idata_or_path)
        if not src.is_file():
            raise FileNotFoundError(f"posterior file '{src}' not found")
        idata = load(src)
        src_dir = src.parent
    else:
        idata = idata_or_path
    out = Path(out_dir) if out_dir is not None else src_dir
    if out is None:
        raise ValueError("`out_dir` is needed when an InferenceData (not a file) is given")
    out.mkdir(parents=True, exist_ok=True)
    if skill is None:
        for d in (src_dir, out):
            if d is not None and (d / "skill.json").is_file():
                skill = json.loads((d / "skill.json").read_text(encoding="utf-8"))
                break
    attrs = idata.posterior.attrs
    info = json.loads(attrs["experiment"]) if "experiment" in attrs else {}
    title = f"Experiment {info['name']}: {info['model']}" if info else None
    report = write_report(idata, out, title=title, ci_prob=(skill or {}).get("prob", 0.9))

    L: list[str] = []
    if info:
        L += ["", "## Experiment", ""]
        if info.get("description"):
            L += [info["description"], ""]
        L.append(f"- **File:** `{info.get('file')}`")
        L.append(f"- **Calibration period:** {' .. '.join(info['calibration_period'])}")
        if info.get("validation_period"):
            L.append(f"- **Validation (held-out) period:** {' .. '.join(info['validation_period'])}")
        L.append(f"- **Sites calibrated ({len(info['sites_calibrated'])}):** "
                 + ", ".join(f"{s} ({p})" for s, p in info["sites_calibrated"].items()))
        for key, label in (("sites_excluded", "Sites excluded"), ("sites_not_validated", "Sites not validated")):
            if info.get(key):
                L += [f"- **{label}:**"] + [f"  - {s}: {r}" for s, r in info[key].items()]
        if info.get("data_notes"):
            L += ["- **Data notes:**"]
            for s, notes in info["data_notes"].items():
                L += [f"  - {s}: " + "; ".join(notes)]
        if info.get("overrides"):
            L.append(f"- **Overrides:** {info['overrides']}")
    L += ["", "## Held-out skill", ""]
    L += _skill_tables(skill) if skill else ["No skill.json found next to posterior.nc."]
    wall = (skill or {}).get("wall_seconds")
    if wall:
        L += ["", "Wall time [s]: " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items())]

    hier = json.loads(attrs.get("hierarchy", "{}") or "{}")
    pooled = [p for p in hier.get("params", []) if p in idata.posterior and "site" in idata.posterior[p].dims]
    if pooled:
        _ensure_backend()
        import matplotlib.pyplot as plt

        L += ["", "## Partial pooling: shrinkage", "",
              ("Site posterior means and central intervals, coloured by PFT; dashed lines and bands: the PFT-level "
               "values they are pooled towards. The forest plot above shows the same site- and PFT-level "
               "posteriors."),
              ""]
        for p in pooled:
            fname = f"shrinkage_{p}.png"
            fig = plot_shrinkage(idata, p, prob=(skill or {}).get("prob", 0.9), path=out / fname)
            plt.close(fig)
            L += [f"### {p}", "", f"![shrinkage of {p}]({fname})", ""]
    text = Path(report).read_text(encoding="utf-8").rstrip("\n") + "\n" + "\n".join(L) + "\n"
    return _write_text(Path(report), text)
