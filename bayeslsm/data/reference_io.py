"""Readers and writers of the reference file formats (``../shared/reference``): DALEC ``drivers.csv``, VSEM
``par.csv``, ``params.json`` and model outputs in the golden ``outputs.csv`` layout.

The data layer is the only I/O layer: the command line (:mod:`bayeslsm.cli`) reads and writes through these
functions and never touches a file itself.

Formats
-------
DALEC ``drivers.csv`` (one row per day; DALEC_REFERENCE.md §2)
    ``date, run_day, tmin_degC, tmax_degC, swrad_MJ_m2_d, co2_ppm, doy, removed_frac, burned_frac,
    deltat_days``; for ``dalec2_water`` also ``precip_mm_d`` and ``vpd_kPa``.  Columns map to the model
    forcing names of :data:`DALEC_DRIVER_COLUMNS` / :data:`DALEC_WATER_DRIVER_COLUMNS` (units in the
    registry :mod:`bayeslsm.data.variables`).  Further columns are ignored.
VSEM ``par.csv`` (VSEM_REFERENCE.md §1)
    ``date, day, PAR_MJ_m2_d``.
``params.json``
    An object with ``parameters`` (name -> number; for DALEC including the six initial pools
    ``clab_init`` ... ``cs_init``) and, for DALEC, the site latitude ``lat_deg`` [degrees_north].  Other
    keys (provenance, summaries) are ignored.
outputs
    DALEC: :data:`DALEC_OUTPUT_COLUMNS` (exactly the golden ``outputs.csv`` header), then any extra model
    columns; VSEM: :data:`VSEM_OUTPUT_COLUMNS`.

Validation is eager and every problem is a :class:`DriverFileError` (a ``ValueError``) naming the file, the
column or parameter, the line, what was expected and what was found: missing columns, empty files, rows of
the wrong length, unparseable dates or numbers, NaN and infinite values, non-daily steps (dates not
consecutive, ``deltat_days`` != 1, ``run_day``/``day`` not increasing by 1), ``doy`` that disagrees with the
date, fractions outside [0, 1], negative PAR/precipitation/VPD, values implausible for the column's units
(the registry's ranges, :data:`bayeslsm.data.variables.PLAUSIBLE`: e.g. ``swrad_MJ_m2_d`` in W m-2, ``vpd_kPa``
in hPa, ``precip_mm_d`` in m), non-UTF-8 or binary files and a truncated last row; in ``params.json`` invalid
JSON, missing parameters, non-numeric or non-finite values and a missing or invalid latitude (names not asked
for are reported in :attr:`ParameterSet.unknown`).  :func:`check_output_dir` checks a run's output folder
before any work.

Numbers are parsed with Python's correctly rounded ``float`` and written with ``repr`` (the shortest
string that round-trips), so a read-write cycle is exact.  Writers are atomic: a temporary file in the
target folder is renamed over the target only when complete, so a failed write leaves an existing file as
it was.

Examples
--------
>>> from bayeslsm.data.reference_io import read_dalec_drivers, read_params  # doctest: +SKIP
>>> drivers = read_dalec_drivers("dalec/FI-Ken_2018-2020/drivers.csv")  # doctest: +SKIP
>>> p = read_params("dalec/FI-Ken_2018-2020/random_1/params.json", ["f_auto", "clab_init"],
...                 need_lat=True)  # doctest: +SKIP
>>> drivers.n, p.lat  # doctest: +SKIP
(1096, 67.9872)
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "DALEC_DRIVER_COLUMNS",
    "DALEC_OUTPUT_COLUMNS",
    "DALEC_WATER_DRIVER_COLUMNS",
    "VSEM_DRIVER_COLUMNS",
    "VSEM_OUTPUT_COLUMNS",
    "DalecDrivers",
    "DriverFileError",
    "ParameterSet",
    "OutputFolderError",
    "ParamsFileError",
    "VsemDrivers",
    "check_output_dir",
    "check_output_path",
    "read_dalec_drivers",
    "read_params",
    "read_vsem_par",
    "write_dalec_drivers",
    "write_dalec_outputs",
    "write_params",
    "write_table",
    "write_vsem_outputs",
    "write_vsem_par",
]

# ---------------------------------------------------------------------------------------------------
# formats

DALEC_DRIVER_COLUMNS: dict[str, str] = {
    "run_day": "run_day",
    "tmin_degC": "tmin",
    "tmax_degC": "tmax",
    "swrad_MJ_m2_d": "swrad",
    "co2_ppm": "co2",
    "doy": "doy",
    "removed_frac": "removed_frac",
    "burned_frac": "burned_frac",
    "deltat_days": "deltat",
}
"""DALEC ``drivers.csv`` column (after ``date``) -> model forcing / registry name."""

DALEC_WATER_DRIVER_COLUMNS: dict[str, str] = {**DALEC_DRIVER_COLUMNS, "precip_mm_d": "precip", "vpd_kPa": "vpd"}
"""``dalec2_water`` drivers: DALEC's plus precipitation [mm d-1] and vapour pressure deficit [kPa]."""

VSEM_DRIVER_COLUMNS: tuple[str, ...] = ("date", "day", "PAR_MJ_m2_d")
"""VSEM ``par.csv`` header."""

_FLUX_COLUMNS = (
    "f01_gpp", "f02_temprate", "f03_ra", "f04_alloc_fol", "f05_alloc_lab", "f06_alloc_roo", "f07_alloc_woo",
    "f08_lab_release", "f09_leaffall_factor", "f10_leaf_litter", "f11_wood_litter", "f12_root_litter",
    "f13_rh_litter", "f14_rh_som", "f15_litter_to_som", "f16_labrelease_factor", "f17_fire_total",
    "f18_fire_lab", "f19_fire_fol", "f20_fire_roo", "f21_fire_woo", "f22_fire_lit", "f23_fire_som",
    "f24_firemort_lab_to_lit", "f25_firemort_fol_to_lit", "f26_firemort_roo_to_lit", "f27_firemort_woo_to_som",
    "f28_firemort_lit_to_som",
)
DALEC_OUTPUT_COLUMNS: tuple[str, ...] = (
    "date", "run_day", "doy", "LAI", "GPP", "Ra", "Rh", "Reco", "NEE", *_FLUX_COLUMNS,
    "C_lab_end", "C_fol_end", "C_roo_end", "C_woo_end", "C_lit_end", "C_som_end",
)
"""Header of the golden DALEC ``outputs.csv`` (DALEC_REFERENCE.md §7)."""

VSEM_OUTPUT_COLUMNS: tuple[str, ...] = ("date", "day", "PAR_MJ_m2_d", "NEE", "Cv", "Cs", "CR")
"""Header of the golden VSEM ``outputs.csv`` (VSEM_REFERENCE.md §4)."""

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DALEC_MODELS = ("dalec2", "dalec2_water")

# ---------------------------------------------------------------------------------------------------
# errors


class DriverFileError(ValueError):
    """A driver or parameter file cannot be used as it is.

    The message names the file, the column (or parameter) and line where there is one, what was expected
    and what was found.

    Attributes
    ----------
    path : Path
        The file.
    column : str or None
        The column (or, for :class:`ParamsFileError`, the parameter) concerned.
    line : int or None
        1-based line of the file (the header is line 1).
    """

    _what = "column"

    def __init__(self, path: str | Path, message: str, *, column: str | None = None, line: int | None = None):
        self.path = Path(path)
        self.column = column
        self.line = line
        where = f"file '{self.path}'"
        if column is not None:
            where += f", {self._what} {column!r}"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")


class ParamsFileError(DriverFileError):
    """A ``params.json`` is invalid: bad JSON, a missing or non-numeric parameter, a missing latitude."""

    _what = "parameter"


# ---------------------------------------------------------------------------------------------------
# containers


@dataclass(frozen=True, eq=False)
class DalecDrivers:
    """A validated DALEC ``drivers.csv``.

    Attributes
    ----------
    path : Path
        The file read (or to be written).
    dates : numpy.ndarray or None
        ``datetime64[D]`` dates, one per row; ``None`` where the ``date`` column is empty (anonymised).
    columns : dict of str to numpy.ndarray
        Forcing arrays keyed by model forcing name (``run_day, tmin, tmax, swrad, co2, doy, removed_frac,
        burned_frac, deltat`` and, for ``dalec2_water``, ``precip, vpd``), float64, shape (n,).
    """

    path: Path
    dates: np.ndarray | None
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of days."""
        return int(self.columns["run_day"].shape[0])

    def forcing_arrays(self) -> dict[str, np.ndarray]:
        """Keyword arguments for ``DALEC2.forcing_from_arrays`` / ``DALEC2Water.forcing_from_arrays``
        (without ``lat``)."""
        return dict(self.columns)

    def date_strings(self) -> list[str]:
        """ISO dates (``""`` for every row when the file had none)."""
        return _date_strings(self.dates, self.n)


@dataclass(frozen=True, eq=False)
class VsemDrivers:
    """A validated VSEM ``par.csv``.

    Attributes
    ----------
    path : Path
    dates : numpy.ndarray or None
        ``datetime64[D]`` dates or ``None`` (empty ``date`` column).
    day : numpy.ndarray
        Day numbers (int64), increasing by 1.
    par : numpy.ndarray
        Photosynthetically active radiation [MJ m-2 d-1], float64.
    """

    path: Path
    dates: np.ndarray | None
    day: np.ndarray
    par: np.ndarray

    @property
    def n(self) -> int:
        """Number of days."""
        return int(self.par.shape[0])

    def date_strings(self) -> list[str]:
        """ISO dates (``""`` for every row when the file had none)."""
        return _date_strings(self.dates, self.n)


@dataclass(frozen=True, eq=False)
class ParameterSet:
    """A validated ``params.json``.

    Attributes
    ----------
    path : Path
    parameters : dict of str to float
        The required parameters (and initial pools) as floats, in the order asked for.
    lat : float or None
        Latitude [degrees_north]: the ``lat`` argument of :func:`read_params`, else ``lat_deg`` of the file.
    unknown : tuple of str
        Names in the file's ``parameters`` that were not asked for (ignored; a caller may refuse them).
    """

    path: Path
    parameters: dict[str, float]
    lat: float | None
    unknown: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------
# reading helpers


def _date_strings(dates: np.ndarray | None, n: int) -> list[str]:
    return [""] * n if dates is None else [str(d) for d in dates]


def _read_rows(path: Path, required: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV, with every structural problem as a DriverFileError."""
    if not path.exists():
        raise DriverFileError(path, "file not found")
    if path.is_dir():
        raise DriverFileError(path, "expected a CSV file; found a folder")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DriverFileError(path, f"expected UTF-8 text; found undecodable bytes at offset {err.start}") from None
    except OSError as err:
        raise DriverFileError(path, f"cannot read the file ({err.strerror})") from None
    if not text.strip():
        raise DriverFileError(path, f"the file is empty; expected a header with columns {list(required)} and one row per day")
    if "\x00" in text:
        raise DriverFileError(path, f"expected CSV text; found a NUL byte at offset {text.index(chr(0))} "
                                    f"(a binary file?)")
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
    except csv.Error as err:
        raise DriverFileError(path, f"not a valid CSV file ({err})") from None
    header = [h.strip() for h in rows[0]]
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise DriverFileError(path, "the column appears twice in the header", column=h, line=1)
        seen.add(h)
    missing = [c for c in required if c not in seen]
    if missing:
        raise DriverFileError(
            path,
            f"missing column{'s' if len(missing) > 1 else ''} {missing}; expected columns {list(required)}, "
            f"found {header}",
            column=missing[0],
        )
    data = rows[1:]
    if not data:
        raise DriverFileError(path, f"the file has a header ({len(header)} columns) but no data rows")
    for i, row in enumerate(data):
        if len(row) != len(header):
            last = " (the last row: is the file truncated?)" if i == len(data) - 1 else ""
            raise DriverFileError(
                path, f"the row has {len(row)} fields; the header has {len(header)} (rows must all have the same "
                f"length){last}", line=i + 2,
            )
    return header, data


def _numbers(path: Path, header: list[str], data: list[list[str]], column: str) -> np.ndarray:
    """A column as finite float64 (Python's correctly rounded parser)."""
    j = header.index(column)
    out = np.empty(len(data))
    for i, row in enumerate(data):
        text = row[j].strip()
        if not text:
            raise DriverFileError(path, "empty value (missing data); expected a number on every day: fill gaps first",
                                  column=column, line=i + 2)
        try:
            value = float(text)
        except ValueError:
            raise DriverFileError(path, f"expected a number; found {text!r}", column=column, line=i + 2) from None
        if not math.isfinite(value):
            raise DriverFileError(path, f"expected a finite number; found {text!r}: fill gaps before running the model",
                                  column=column, line=i + 2)
        out[i] = value
    return out


def _dates(path: Path, header: list[str], data: list[list[str]]) -> np.ndarray | None:
    """``date`` as datetime64[D], consecutive days; None when the column is empty on every row."""
    j = header.index("date")
    texts = [row[j].strip() for row in data]
    if not any(texts):
        return None
    days = []
    for i, text in enumerate(texts):
        if not text:
            raise DriverFileError(path, "empty date; expected YYYY-MM-DD on every row (or the column empty on all rows)",
                                  column="date", line=i + 2)
        try:
            if not _DATE_RE.match(text):
                raise ValueError(text)
            days.append(_dt.date.fromisoformat(text))
        except ValueError:
            raise DriverFileError(path, f"cannot parse date {text!r}; expected YYYY-MM-DD", column="date",
                                  line=i + 2) from None
    for i in range(1, len(days)):
        step = (days[i] - days[i - 1]).days
        if step != 1:
            raise DriverFileError(
                path, f"dates must be consecutive days (daily steps); found {days[i]} after {days[i - 1]} "
                f"(a step of {step} days)", column="date", line=i + 2,
            )
    return np.array(days, dtype="datetime64[D]")


def _check_step(path: Path, values: np.ndarray, column: str) -> None:
    """``values`` increase by exactly 1 per row (a daily counter)."""
    d = np.diff(values)
    bad = np.flatnonzero(d != 1.0)
    if bad.size:
        i = int(bad[0]) + 1
        raise DriverFileError(
            path, f"must increase by 1 per row (daily steps); found {values[i]!r} after {values[i - 1]!r}",
            column=column, line=i + 2,
        )


def _check_range(path: Path, values: np.ndarray, column: str, lo: float | None, hi: float | None, what: str) -> None:
    bad = np.zeros(values.shape, dtype=bool)
    if lo is not None:
        bad |= values < lo
    if hi is not None:
        bad |= values > hi
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DriverFileError(path, f"expected {what}; found {values[i]!r}", column=column, line=i + 2)


def _check_plausible(path: Path, values: np.ndarray, column: str, name: str) -> None:
    """Registry plausibility (:mod:`bayeslsm.data.plausibility`): unit mistakes such as W m-2 for MJ m-2 d-1."""
    from bayeslsm.data.plausibility import implausible

    problem = implausible(values, name)
    if problem is not None:
        line = None if problem.index is None else problem.index + 2
        raise DriverFileError(path, problem.message, column=column, line=line)


# ---------------------------------------------------------------------------------------------------
# readers


def read_dalec_drivers(path: str | Path, *, model: str = "dalec2") -> DalecDrivers:
    """Read and validate a DALEC ``drivers.csv``.

    Parameters
    ----------
    path
        The CSV file (format in the module docstring).
    model
        ``"dalec2"`` or ``"dalec2_water"`` (which also requires ``precip_mm_d`` [mm d-1] and ``vpd_kPa``
        [kPa]).

    Returns
    -------
    DalecDrivers
        Dates and forcing arrays keyed by model forcing name (``tmin`` [degC], ``swrad`` [MJ m-2 d-1],
        ``co2`` [ppm], ``deltat`` [d], ...).

    Raises
    ------
    DriverFileError
        File missing or empty, a required column missing, a row of the wrong length, an unparseable date
        or number, a NaN or infinite value, non-consecutive dates, ``deltat_days`` != 1, ``run_day`` not
        increasing by 1, ``doy`` outside 1..366 or disagreeing with the date, a disturbance fraction
        outside [0, 1], negative precipitation or VPD.

    Examples
    --------
    >>> d = read_dalec_drivers("drivers.csv")  # doctest: +SKIP
    >>> sorted(d.forcing_arrays())  # doctest: +SKIP
    ['burned_frac', 'co2', 'deltat', 'doy', 'removed_frac', 'run_day', 'swrad', 'tmax', 'tmin']
    """
    if model not in _DALEC_MODELS:
        raise ValueError(f"`model` must be one of {list(_DALEC_MODELS)}; got {model!r}")
    path = Path(path)
    spec = DALEC_WATER_DRIVER_COLUMNS if model == "dalec2_water" else DALEC_DRIVER_COLUMNS
    header, data = _read_rows(path, ["date", *spec])
    dates = _dates(path, header, data)
    cols = {name: _numbers(path, header, data, col) for col, name in spec.items()}

    bad = np.flatnonzero(cols["deltat"] != 1.0)
    if bad.size:
        i = int(bad[0])
        raise DriverFileError(
            path, f"non-daily step: expected 1 (the reference format is daily); found {cols['deltat'][i]!r}",
            column="deltat_days", line=i + 2,
        )
    _check_step(path, cols["run_day"], "run_day")
    doy = cols["doy"]
    if dates is not None:
        expected = (dates - dates.astype("datetime64[Y]")).astype(int) + 1
        bad = np.flatnonzero(doy != expected)
        if bad.size:
            i = int(bad[0])
            raise DriverFileError(
                path, f"day of year {doy[i]!r} disagrees with the date {dates[i]} (day {expected[i]} of its year)",
                column="doy", line=i + 2,
            )
    else:
        bad = np.flatnonzero((doy != np.round(doy)) | (doy < 1) | (doy > 366))
        if bad.size:
            i = int(bad[0])
            raise DriverFileError(path, f"expected a whole day of year in 1..366; found {doy[i]!r}", column="doy",
                                  line=i + 2)
    for col in ("removed_frac", "burned_frac"):
        _check_range(path, cols[col], col, 0.0, 1.0, "a fraction in [0, 1]")
    if model == "dalec2_water":
        _check_range(path, cols["precip"], "precip_mm_d", 0.0, None, "precipitation >= 0 mm d-1")
        _check_range(path, cols["vpd"], "vpd_kPa", 0.0, None, "a vapour pressure deficit >= 0 kPa")
    for col, name in spec.items():
        _check_plausible(path, cols[name], col, name)
    return DalecDrivers(path=path, dates=dates, columns=cols)


def read_vsem_par(path: str | Path) -> VsemDrivers:
    """Read and validate a VSEM ``par.csv`` (``date, day, PAR_MJ_m2_d``).

    Parameters
    ----------
    path
        The CSV file.

    Returns
    -------
    VsemDrivers
        Dates, day numbers and PAR [MJ m-2 d-1].

    Raises
    ------
    DriverFileError
        File missing or empty, a column missing, a row of the wrong length, an unparseable date or number,
        NaN or infinite PAR, negative PAR, non-consecutive dates, ``day`` not whole or not increasing by 1.

    Examples
    --------
    >>> d = read_vsem_par("vsem/FR-Pue_2000-2004/par.csv")  # doctest: +SKIP
    >>> d.n, d.par.dtype  # doctest: +SKIP
    (1827, dtype('float64'))
    """
    path = Path(path)
    header, data = _read_rows(path, VSEM_DRIVER_COLUMNS)
    dates = _dates(path, header, data)
    day = _numbers(path, header, data, "day")
    bad = np.flatnonzero(day != np.round(day))
    if bad.size:
        i = int(bad[0])
        raise DriverFileError(path, f"expected a whole day number; found {day[i]!r}", column="day", line=i + 2)
    _check_step(path, day, "day")
    par = _numbers(path, header, data, "PAR_MJ_m2_d")
    _check_range(path, par, "PAR_MJ_m2_d", 0.0, None, "PAR >= 0 MJ m-2 d-1")
    _check_plausible(path, par, "PAR_MJ_m2_d", "par")
    return VsemDrivers(path=path, dates=dates, day=day.astype(np.int64), par=par)


def _number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (bool, string, null, list...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_params(
    path: str | Path, required: Sequence[str], *, need_lat: bool = False, lat: float | None = None
) -> ParameterSet:
    """Read and validate a ``params.json``.

    Parameters
    ----------
    path
        The JSON file: an object with ``parameters`` (name -> number) and optionally ``lat_deg``.
    required
        Names that must be in ``parameters`` (e.g. the model's ``Params`` fields and initial pools); other
        names in the file are ignored.
    need_lat
        A latitude is required (DALEC): ``lat`` or the file's ``lat_deg``.
    lat
        Latitude [degrees_north] that takes precedence over the file's ``lat_deg`` (``--lat``).

    Returns
    -------
    ParameterSet
        ``parameters`` with exactly the ``required`` names as floats, and the latitude.

    Raises
    ------
    ParamsFileError
        File missing, invalid JSON, no ``parameters`` object, a required parameter missing, a non-numeric or
        non-finite value, a missing (when ``need_lat``) or invalid latitude.

    Examples
    --------
    >>> p = read_params("params.json", ["KEXT", "LAR"])  # doctest: +SKIP
    >>> p.parameters  # doctest: +SKIP
    {'KEXT': 0.5, 'LAR': 1.5}
    """
    path = Path(path)
    if not path.exists():
        raise ParamsFileError(path, "file not found")
    if path.is_dir():
        raise ParamsFileError(path, "expected a JSON file; found a folder")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise ParamsFileError(path, f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    except UnicodeDecodeError as err:
        raise ParamsFileError(path, f"expected UTF-8 text; found undecodable bytes at offset {err.start}") from None
    except OSError as err:
        raise ParamsFileError(path, f"cannot read the file ({err.strerror})") from None
    if not isinstance(doc, dict):
        raise ParamsFileError(path, f"expected a JSON object with a 'parameters' object; found a {type(doc).__name__}")
    params = doc.get("parameters")
    if not isinstance(params, dict):
        found = "no 'parameters' key" if params is None else f"'parameters' is a {type(params).__name__}"
        raise ParamsFileError(
            path, f"expected an object 'parameters' mapping names to numbers; found {found} "
            f"(top-level keys: {sorted(doc)})",
        )
    missing = [k for k in required if k not in params]
    if missing:
        unknown = sorted(set(params) - set(required))
        hint = f"; names in the file that are not expected: {unknown}" if unknown else ""
        raise ParamsFileError(
            path, f"missing parameter{'s' if len(missing) > 1 else ''} {missing}; expected {list(required)}{hint}",
            column=missing[0],
        )
    values: dict[str, float] = {}
    for k in required:
        v = _number(params[k])
        if v is None:
            raise ParamsFileError(path, f"expected a number; found {params[k]!r} ({type(params[k]).__name__})", column=k)
        if not math.isfinite(v):
            raise ParamsFileError(path, f"expected a finite number; found {params[k]!r}", column=k)
        values[k] = v

    if lat is not None:
        lat_value = _number(lat)
        if lat_value is None or not -90.0 <= lat_value <= 90.0:
            raise ValueError(f"`lat` must be a latitude in [-90, 90] degrees_north; got {lat!r}")
    elif "lat_deg" in doc:
        lat_value = _number(doc["lat_deg"])
        if lat_value is None or not -90.0 <= lat_value <= 90.0:
            if need_lat:
                raise ParamsFileError(
                    path, f"expected a latitude in [-90, 90] degrees_north; found {doc['lat_deg']!r}", column="lat_deg"
                )
            lat_value = None
    elif need_lat:
        raise ParamsFileError(
            path, "missing latitude: expected a number 'lat_deg' [degrees_north] next to 'parameters', or pass it "
            "explicitly (`lat=`, `bayeslsm simulate --lat`)", column="lat_deg",
        )
    else:
        lat_value = None
    unknown = tuple(sorted(str(k) for k in params if k not in values))
    return ParameterSet(path=path, parameters=values, lat=lat_value, unknown=unknown)


# ---------------------------------------------------------------------------------------------------
# writers


def check_output_path(path: str | Path) -> Path:
    """Check that ``path`` can be written (its folder exists, it is not a folder) before doing any work.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    IsADirectoryError
        ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write '{path}': it is a folder; expected a file name")
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write '{path}': folder '{parent}' does not exist")
    return path


class OutputFolderError(OSError):
    """An output folder that cannot take a run's outputs: not a folder, not writable, or not empty without
    ``overwrite`` (or ``resume``)."""


CHECKPOINT_PREFIX = "checkpoint"
"""Names of entries that mark a resumable run (``checkpoint*``): a folder holding one is accepted with
``resume=True``."""


def check_output_dir(path: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Check, before any data is read or any sampling starts, that ``path`` can take a run's outputs.

    The folder must be writable (its nearest existing ancestor, when it does not exist yet; nothing is
    created) and either absent, empty, or allowed: ``overwrite=True`` replaces the outputs it holds (each file
    is replaced atomically when rewritten; other files stay), ``resume=True`` continues the run whose
    checkpoint it holds (validated by the resume logic, not here).

    Parameters
    ----------
    path
        The output folder.
    overwrite, resume
        Accept a non-empty folder; at most one of them.

    Returns
    -------
    Path

    Raises
    ------
    OutputFolderError
        ``path`` is a file, is not writable, or is not empty and neither flag is given.

    Examples
    --------
    >>> check_output_dir("runs/new")  # doctest: +SKIP
    PosixPath('runs/new')
    """
    path = Path(path)
    if overwrite and resume:
        raise ValueError("`overwrite` and `resume` exclude each other: resume continues the outputs that overwrite "
                         "would replace")
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"output folder '{path}': expected a folder; found a file")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputFolderError(f"output folder '{path}': cannot be created, '{probe}' is a file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".bayeslsm-write-test.", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise OutputFolderError(f"output folder '{path}': '{probe}' is not writable ({err.strerror}); "
                                f"expected a folder you can write to") from None
    if path.is_dir() and not (overwrite or resume):
        entries = sorted(p.name for p in path.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            hint = "pass --overwrite (overwrite=True) to replace its outputs, or choose a new folder"
            if any(e.startswith(CHECKPOINT_PREFIX) for e in entries):
                hint = "it holds a checkpoint: pass --resume to continue that run, or " + hint
            raise OutputFolderError(f"output folder '{path}' is not empty ({len(entries)} entries: {shown}); "
                                    f"expected a new or empty folder: {hint}")
    return path


def _atomic_write(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path`` and rename it over ``path``."""
    from bayeslsm.data.atomic import write_text_atomic

    return write_text_atomic(check_output_path(path), text, newline="")


def _cells(name: str, values: Any) -> list[str]:
    """One column as CSV cells: floats with ``repr`` (shortest round-trip), ints, dates and text as is."""
    if isinstance(values, np.ndarray) or not isinstance(values, (list, tuple)):
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"column {name!r} must be one-dimensional; found shape {arr.shape}")
        kind = arr.dtype.kind
        if kind == "f":
            return [repr(x) for x in arr.astype(float).tolist()]
        if kind in "iu":
            return [str(x) for x in arr.tolist()]
        if kind == "M":
            return ["" if np.isnat(x) else str(x) for x in arr.astype("datetime64[D]")]
        if kind in "US":
            return [str(x) for x in arr.tolist()]
        if kind != "O":
            raise ValueError(f"column {name!r}: cannot write values of dtype {arr.dtype}")
        values = arr.tolist()
    out = []
    for x in values:
        if x is None:
            out.append("")
        elif isinstance(x, bool):
            raise ValueError(f"column {name!r}: cannot write a boolean ({x!r}); convert it to a number first")
        elif isinstance(x, (float, np.floating)):
            out.append(repr(float(x)))
        elif isinstance(x, (int, np.integer)):
            out.append(str(int(x)))
        else:
            out.append(str(x))
    return out


def write_table(path: str | Path, columns: Mapping[str, Any]) -> Path:
    """Write columns to a CSV atomically, floats with ``repr``.

    Parameters
    ----------
    path
        Target file; its folder must exist.  An existing file is replaced only once the new one is complete.
    columns
        Column name -> 1-D values (numpy array, list or tuple), all of the same length, in output order.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Columns of different lengths, or values that cannot be written.
    OSError
        The folder does not exist or the file cannot be written.

    Examples
    --------
    >>> write_table("out.csv", {"day": [1, 2], "NEE": [0.1, -0.2]})  # doctest: +SKIP
    PosixPath('out.csv')
    """
    if not columns:
        raise ValueError("`columns` is empty; expected at least one column")
    cells = {name: _cells(name, values) for name, values in columns.items()}
    lengths = {name: len(c) for name, c in cells.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns must all have the same length; found {lengths}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(cells))
    writer.writerows(zip(*cells.values()))
    return _atomic_write(Path(path), buf.getvalue())


def write_dalec_drivers(path: str | Path, drivers: DalecDrivers) -> Path:
    """Write ``drivers`` as a DALEC ``drivers.csv`` (``precip_mm_d``/``vpd_kPa`` when present), atomically.

    Examples
    --------
    >>> write_dalec_drivers("copy.csv", read_dalec_drivers("drivers.csv"))  # doctest: +SKIP
    """
    spec = DALEC_WATER_DRIVER_COLUMNS if "precip" in drivers.columns else DALEC_DRIVER_COLUMNS
    cols: dict[str, Any] = {"date": drivers.date_strings()}
    cols.update({col: np.asarray(drivers.columns[name], dtype=float) for col, name in spec.items()})
    return write_table(path, cols)


def write_vsem_par(path: str | Path, drivers: VsemDrivers) -> Path:
    """Write ``drivers`` as a VSEM ``par.csv``, atomically."""
    return write_table(path, {"date": drivers.date_strings(), "day": drivers.day, "PAR_MJ_m2_d": drivers.par})


def write_params(path: str | Path, parameters: Mapping[str, float], *, lat: float | None = None,
                 **extra: Any) -> Path:
    """Write a ``params.json`` (``parameters``, ``lat_deg`` when given, and ``extra`` keys), atomically.

    Floats are written by :mod:`json` with ``repr`` (shortest round-trip); NaN and infinities are refused.

    Examples
    --------
    >>> write_params("params.json", {"KEXT": 0.5}, lat=43.7414, case="demo")  # doctest: +SKIP
    """
    doc: dict[str, Any] = {"parameters": {k: float(v) for k, v in parameters.items()}}
    if lat is not None:
        doc["lat_deg"] = float(lat)
    doc.update(extra)
    try:
        text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    except ValueError:
        bad = sorted(k for k, v in doc["parameters"].items() if not math.isfinite(v))
        raise ValueError(f"parameters must be finite to be written as JSON; found non-finite {bad}") from None
    return _atomic_write(Path(path), text)


def _output_column(outputs: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    if name not in outputs:
        raise ValueError(f"`outputs` has no column {name!r}; expected {name!r} among {sorted(outputs)}")
    arr = np.asarray(outputs[name], dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"output column {name!r} must have shape ({n},) like the drivers; found {arr.shape}")
    return arr


def write_dalec_outputs(path: str | Path, drivers: DalecDrivers, outputs: Mapping[str, Any],
                        extra_columns: Sequence[str] = ()) -> Path:
    """Write DALEC outputs in the golden ``outputs.csv`` layout (plus ``extra_columns`` at the end), atomically.

    Parameters
    ----------
    path
        Target CSV.
    drivers
        The drivers of the run (``date``, ``run_day`` and ``doy`` are copied from them).
    outputs
        Output name -> daily values, with every name of :data:`DALEC_OUTPUT_COLUMNS` after ``doy``.
    extra_columns
        Further output names written after the golden columns (the ``dalec2_water`` water outputs).

    Returns
    -------
    Path
    """
    n = drivers.n
    cols: dict[str, Any] = {"date": drivers.date_strings(), "run_day": drivers.columns["run_day"],
                            "doy": drivers.columns["doy"]}
    for name in (*DALEC_OUTPUT_COLUMNS[3:], *extra_columns):
        cols[name] = _output_column(outputs, name, n)
    return write_table(path, cols)


def write_vsem_outputs(path: str | Path, drivers: VsemDrivers, outputs: Mapping[str, Any]) -> Path:
    """Write VSEM outputs in the golden layout ``date, day, PAR_MJ_m2_d, NEE, Cv, Cs, CR``, atomically."""
    n = drivers.n
    cols: dict[str, Any] = {"date": drivers.date_strings(), "day": drivers.day, "PAR_MJ_m2_d": drivers.par}
    for name in VSEM_OUTPUT_COLUMNS[3:]:
        cols[name] = _output_column(outputs, name, n)
    return write_table(path, cols)
