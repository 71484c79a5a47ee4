"""Experiment files: the format, its validation (:class:`ExperimentError`) and :func:`load_experiment`."""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

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
_HIERARCHY_KEYS = ("params", "mode", "centered", "pft_centered", "pft_scale", "site_scale", "pft_only", "covariates", "coef_scale")
_SAMPLER_KEYS = ("method", "kernel", "chains", "warmup", "draws", "dense_mass", "target_accept", "max_tree_depth", "seed",
                 "steps", "learning_rate", "prior_draws")
_SKILL_KEYS = ("prob", "draws")
_METHODS = ("nuts", "chees", "laplace", "svi")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SITE_RE = re.compile(r"^[A-Z]{2}-[A-Za-z0-9]{3}$")
_OVERRIDE_KEYS = ("chains", "warmup", "draws", "seed", "method", "kernel", "max_tree_depth", "sites", "calibration",
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
    kernel: str = "hmc"          # method "chees": draw with jittered HMC ("hmc") or NUTS ("nuts") after its warm-up
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
            Any of ``chains, warmup, draws, seed, method, kernel, max_tree_depth, prior_draws, steps`` (sampler),
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
        samp = {k: overrides[k] for k in ("chains", "warmup", "draws", "seed", "method", "kernel", "max_tree_depth",
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
    return Path(__file__).resolve().parents[2] / "models" / "experiments"


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


SEED_MAX = 2**32 - 1
"""Largest seed accepted (numpy's legacy ``RandomState`` and 32-bit JAX keys take seeds in [0, 2**32 - 1])."""


def _bounded(v, key, path, lo, hi, allow: bool, what: str) -> float:
    """A finite number; outside ``[lo, hi]`` an error, or an :class:`OutOfBoundsWarning` when ``allow``."""
    import warnings

    from bayeslsm.data.plausibility import OutOfBoundsWarning

    x = _float(v, key, path)
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        msg = f"expected {what} in [{lo_s}, {hi_s}]; found {v!r}"
        if not allow:
            raise ExperimentError(path, key, msg + " (pass --allow-out-of-bounds / allow_out_of_bounds=True to "
                                                  "accept it with a warning)")
        warnings.warn(str(ExperimentError(path, key, msg + " (accepted: allow_out_of_bounds)")), OutOfBoundsWarning,
                      stacklevel=4)
    return x


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
    if "kernel" in d:
        kw["kernel"] = _str(d["kernel"], f"{k}.kernel", path, ("hmc", "nuts"))
    for name, minimum in (("chains", 1), ("warmup", 1), ("draws", 1), ("max_tree_depth", 1), ("steps", 1),
                          ("prior_draws", 0), ("seed", 0)):
        if name in d:
            kw[name] = _int(d[name], f"{k}.{name}", path, minimum)
    if kw.get("seed", 0) > SEED_MAX:
        raise ExperimentError(path, f"{k}.seed", f"expected a seed in [0, {SEED_MAX}] (2**32 - 1); found {d['seed']!r}")
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


def _constant_forcing(v, key, path, var: str, allow: bool) -> float:
    """A constant forcing value within the registry's plausible daily range (:data:`~bayeslsm.data.variables.
    PLAUSIBLE`; the constant is every day's value and the record's mean)."""
    from bayeslsm.data.variables import PLAUSIBLE, VARIABLES

    rng = PLAUSIBLE.get(var)
    if rng is None:
        return _float(v, key, path)
    lo, hi = rng.lower, rng.upper
    if rng.annual_mean is not None:
        lo = rng.annual_mean[0] if lo is None else max(lo, rng.annual_mean[0])
        hi = rng.annual_mean[1] if hi is None else min(hi, rng.annual_mean[1])
    return _bounded(v, key, path, lo, hi, allow, f"a plausible {var} [{VARIABLES[var].units}] (registry: {rng.source})")


def _resolve_file(name: str, base: Path | None):
    """Registered name -> the name itself; otherwise an existing path (relative to ``base``) or None."""
    from bayeslsm.data.cache import REGISTRY

    if name in REGISTRY:
        return name
    p = Path(name).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p) if p.is_file() else None


def _sites(raw_sites, path, catalogue, data: DataOptions, allow: bool = False) -> tuple[SiteSpec, ...]:
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
        cf = {str(k): _constant_forcing(v, f"{key}.constant_forcing.{k}", path, str(k), allow) for k, v in cf.items()}
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


def _parameters(p: Mapping, path, catalogue, allow: bool = False) -> tuple[tuple[str, ...], dict, dict]:
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
        fixed_out[n] = _bounded(v, key, path, specs[n].lower, specs[n].upper, allow,
                                f"{n} [{specs[n].unit}] (catalogue bounds)")
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
        fbp_out[n] = MappingProxyType({pft: _bounded(v, f"{key}.{pft}", path, specs[n].lower, specs[n].upper, allow,
                                                     f"{n} [{specs[n].unit}] (catalogue bounds)")
                                       for pft, v in table.items()})
    return tuple(free), fixed_out, fbp_out


def load_experiment(path_or_name: str | os.PathLike, *, allow_out_of_bounds: bool = False) -> Experiment:
    """Read and validate an experiment file.

    Parameters
    ----------
    path_or_name
        A TOML file, or the name of a shipped experiment (:func:`available_experiments`), e.g. ``"fr-pue"``.
    allow_out_of_bounds
        Accept fixed parameters outside their catalogue bounds and constant forcing outside the registry's
        plausible range with an :class:`~bayeslsm.data.plausibility.OutOfBoundsWarning` instead of an error.

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
                    return _load(Path(f), res.read_text(encoding="utf-8"), allow_out_of_bounds)
            raise FileNotFoundError(f"no experiment file {name!r} and no shipped experiment of that name; shipped: "
                                    f"{list(available_experiments())}")
        raise FileNotFoundError(f"experiment file '{p}' not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ExperimentError(p, None, f"expected UTF-8 TOML text; found undecodable bytes at offset {err.start} "
                                       f"(a binary file?)") from None
    return _load(p, text, allow_out_of_bounds)


def _load(path: Path, text: str, allow_out_of_bounds: bool = False) -> Experiment:
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
    sites = _sites(raw.get("sites"), path, catalogue, data, allow_out_of_bounds)
    streams = _streams(raw.get("streams"), path, model)

    pt = _table(raw, "parameters", path, required=True)
    _check_keys(pt, _PARAMETER_KEYS, path, "parameters")
    free, fixed, fixed_by_pft = _parameters(pt, path, catalogue, allow_out_of_bounds)

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
        for key in ("centered", "pft_centered"):
            if key not in h:
                continue
            c = h[key]
            if isinstance(c, list):
                if not all(isinstance(x, str) and x in params for x in c):
                    raise ExperimentError(path, f"hierarchy.{key}",
                                          f"expected true, false or a list of names from hierarchy.params "
                                          f"{list(params)}; found {c!r}")
                kw[key] = tuple(c)
            else:
                kw[key] = _bool(c, f"hierarchy.{key}", path)
        for k in ("pft_scale", "site_scale"):
            if k in h:
                kw[k] = _float(h[k], f"hierarchy.{k}", path, 0.0, math.inf, open_lo=True)
        if "pft_only" in h:
            po = h["pft_only"]
            if not isinstance(po, list) or not all(isinstance(x, str) and x in params for x in po):
                raise ExperimentError(path, "hierarchy.pft_only",
                                      f"expected a list of names from hierarchy.params {list(params)}; found {po!r}")
            kw["pft_only"] = tuple(po)
        if "covariates" in h:
            from bayeslsm.data.covariates import COVARIATES

            cv = h["covariates"]
            if not isinstance(cv, list) or not cv or not all(isinstance(x, str) for x in cv):
                raise ExperimentError(path, "hierarchy.covariates",
                                      f"expected a non-empty list of site covariate names; found {cv!r}")
            bad = [x for x in cv if x not in COVARIATES]
            if bad:
                raise ExperimentError(path, "hierarchy.covariates",
                                      f"unknown site covariate(s) {bad}; expected some of {list(COVARIATES)} "
                                      f"(bayeslsm.data.covariates)")
            if len(set(cv)) != len(cv):
                raise ExperimentError(path, "hierarchy.covariates", f"a covariate is listed twice: {cv}")
            if kw.get("mode", "partial") != "partial":
                raise ExperimentError(path, "hierarchy.covariates",
                                      f"site covariates need mode = 'partial'; found mode = {kw['mode']!r}")
            kw["covariates"] = tuple(cv)
        if "coef_scale" in h:
            kw["coef_scale"] = _float(h["coef_scale"], "hierarchy.coef_scale", path, 0.0, math.inf, open_lo=True)
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
