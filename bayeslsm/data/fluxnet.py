"""Readers for daily FLUXNET-format flux-tower files: FLUXNET2015/ONEFlux FULLSET/SUBSET ``DD`` files,
FluxDataKit ``DD`` files (also the PLUMBER-named ones) and ERA-Interim ``ERAI_DD`` driver files.

This is the only place where FLUXNET columns and units meet the model: every variable leaves in model
units with CF-style ``units`` and ``long_name`` attributes and a ``source_column`` attribute naming the
column it came from.

Forcing (model units)
---------------------
========  ==============  ==============================================================================
name      units           from (first column present wins)
========  ==============  ==============================================================================
ta        degC            ``TA_F`` (ONEFlux, measured + ERA-filled), ``TA_F_MDS`` (FluxDataKit)
tmin      degC            ``TMIN_F_MDS`` / ``TMIN_F``; derived from day/night means and SDs when absent
tmax      degC            ``TMAX_F_MDS`` / ``TMAX_F``; derived likewise
swrad     MJ m-2 d-1      ``SW_IN_F``, ``SW_IN_F_MDS`` [W m-2, daily mean] x 0.0864
par       MJ m-2 d-1      0.5 x swrad
co2       ppm             ``CO2_F_MDS``
precip    mm d-1          ``P_F``
vpd       kPa             ``VPD_F``, ``VPD_F_MDS`` [hPa] / 10
doy       1               day of year of ``time``
========  ==============  ==============================================================================

Tmin and Tmax where a product has none (ONEFlux DD): each half of the day is taken as half a sine
wave, so the daytime maximum lies ``c = (1 - 2/pi) / sqrt(1/2 - 4/pi^2) = 1.1807`` standard deviations
above the daytime mean and the night-time minimum ``c`` SDs below the night-time mean::

    tmax = TA_F_DAY + c * TA_F_DAY_SD          tmin = TA_F_NIGHT - c * TA_F_NIGHT_SD

(``TA_F_MDS_DAY`` etc. when the consolidated columns are absent). A day without daytime half-hours
(polar night) takes both ends from the night statistics, a day without night (midnight sun) from the
day statistics; finally ``tmin <= ta <= tmax`` is imposed (``tmin = min(tmin, ta)``, ``tmax = max(tmax,
ta)``). The same rule turns ``TA_ERA_DAY``/``TA_ERA_NIGHT`` (+ ``_SD``) into ERA-Interim Tmin/Tmax.
The rule is an approximation: it cannot see a frontal passage within a half-day.

Observations
------------
=========  ============  ==========================================================================
name       units         from
=========  ============  ==========================================================================
NEE        gC m-2 d-1    ``NEE_VUT_REF``; QC ``NEE_VUT_REF_QC``; ``NEE_unc`` from ``NEE_VUT_REF_RANDUNC``
GPP        gC m-2 d-1    ``GPP_NT_VUT_REF`` (``partitioning="DT"``: ``GPP_DT_VUT_REF``); QC as NEE;
                         ``GPP_unc`` from ``GPP_NT_VUT_SE`` (ONEFlux only)
RECO       gC m-2 d-1    ``RECO_NT_VUT_REF`` (or ``_DT_``); QC as NEE; ``RECO_unc`` from ``RECO_NT_VUT_SE``
LE         W m-2         ``LE_F_MDS`` (or ``LE_CORR``); QC ``LE_F_MDS_QC``; ``LE_unc`` from ``LE_RANDUNC``
                         (``LE_CORR_JOINTUNC`` for ``LE_CORR``)
ET         mm d-1        LE x 86400 / 2.45e6 (latent heat of vaporisation 2.45 MJ kg-1, FAO-56)
LAI        m2 m-2        ``LAI`` (FluxDataKit: MODIS MCD15A2H, interpolated to days)
FPAR       1             ``FPAR`` (FluxDataKit, MODIS)
NEE_qc,    1             the QC fractions themselves
LE_qc
=========  ============  ==========================================================================

QC: in FLUXNET2015/ONEFlux daily files the ``_QC`` of a gap-filled flux is the fraction (0-1) of the
day's half-hours that were measured or gap-filled with good quality (MDS quality 0 or 1). A daily flux
is kept where ``QC >= qc_threshold`` (default 0.75: at least 36 of 48 half-hours measured or
well filled) and set to NaN otherwise, together with its uncertainty; a day whose QC is missing is
rejected. GPP and RECO are derived from NEE_VUT_REF and share its QC. Where the QC column is absent
or entirely empty (FluxDataKit 26-site files, ``LE_F_MDS_QC`` at FI-Ken/FI-Qvd) the stream is kept
unfiltered and ``qc_missing`` decides whether that warns, passes or raises; the variable's
``qc_applied`` attribute says which happened.

Plausibility: every forcing and flux column is checked in its file units against the registry's ranges
(:data:`bayeslsm.data.variables.PLAUSIBLE`, via :mod:`bayeslsm.data.plausibility`): each value against
physical limits and, for a record of a year or more, the seasonal maximum and the mean, so that SW_IN in
MJ m-2 d-1, VPD in kPa, precipitation in m or LE in MJ m-2 d-1 is a :class:`UnitsError` naming the column.
Infinite values, negative precipitation, non-UTF-8 or binary files, a truncated last row, and a ``site``
argument that contradicts the site in the file name are named errors too.

Fill values ``-9999`` and ``NA`` become NaN. The time axis is the day's date (FLUXNET days are local
standard time days); it must be consecutive daily steps without duplicates.

References
----------
Pastorello, G. et al. (2020). The FLUXNET2015 dataset and the ONEFlux processing pipeline for eddy
covariance data. Scientific Data 7, 225. doi:10.1038/s41597-020-0534-3

Allen, R. G. et al. (1998). Crop evapotranspiration. FAO Irrigation and Drainage Paper 56
(latent heat of vaporisation 2.45 MJ kg-1, p. 31). ISBN 92-5-104219-5
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from bayeslsm.data.sites import SITES, igbp_to_pft
from bayeslsm.data.variables import VARIABLES

__all__ = [
    "DataFileError",
    "DataQualityWarning",
    "EmptyFileError",
    "MissingVariableError",
    "NoOverlapError",
    "TimeAxisError",
    "TimestampError",
    "UnitsError",
    "FILL_VALUE",
    "LATENT_HEAT_VAPORISATION",
    "MODIS_LAI_START",
    "PAR_FRACTION",
    "QC_THRESHOLD",
    "SW_W_M2_TO_MJ_DAY",
    "TMINMAX_SD_FACTOR",
    "VARIABLE_ATTRS",
    "detect_product",
    "read_era_drivers",
    "read_fluxnet",
    "tminmax_from_day_night",
]

# --------------------------------------------------------------------------------------------------
# errors and warnings


class DataFileError(ValueError):
    """A data file cannot be read as the expected product.

    The message names the file, the column where there is one, what was expected and what was found.

    Attributes
    ----------
    path
        The file.
    column
        The column concerned, or ``None``.
    """

    def __init__(self, path: str | Path | None, message: str, *, column: str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.column = column
        where = f"file '{self.path}'" if self.path is not None else "data"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class EmptyFileError(DataFileError):
    """The file has no data rows (or no bytes at all)."""


class MissingVariableError(DataFileError):
    """A required variable (column) is not in the file."""


class TimestampError(DataFileError):
    """A timestamp cannot be parsed."""


class TimeAxisError(DataFileError):
    """Timestamps are duplicated, not increasing, or not at the expected step."""


class UnitsError(DataFileError):
    """Values are implausible for the documented units (e.g. Kelvin where degC is expected)."""


class NoOverlapError(DataFileError):
    """Forcing and observations (or a site file and its ERA file) share no day."""


class DataQualityWarning(UserWarning):
    """The data are usable but something about them should be known (unfiltered QC, no diurnal range)."""


# --------------------------------------------------------------------------------------------------
# constants

FILL_VALUE = -9999.0
"""FLUXNET missing-value code (FluxDataKit writes ``NA`` instead)."""

SW_W_M2_TO_MJ_DAY = 86400.0 / 1e6
"""Daily-mean flux [W m-2] -> daily total [MJ m-2 d-1] (= 0.0864)."""

PAR_FRACTION = 0.5
"""PAR as a fraction of incoming shortwave energy [1] (model convention, as in the weather generator)."""

HPA_TO_KPA = 0.1
"""[hPa] -> [kPa]."""

LATENT_HEAT_VAPORISATION = 2.45e6
"""Latent heat of vaporisation [J kg-1] at about 20 degC (Allen et al. 1998, FAO-56, p. 31)."""

SECONDS_PER_DAY = 86400.0

QC_THRESHOLD = 0.75
"""Default minimum daily QC (fraction of measured or well gap-filled half-hours) [1]."""

TMINMAX_SD_FACTOR = (1.0 - 2.0 / math.pi) / math.sqrt(0.5 - 4.0 / math.pi**2)
"""Max minus mean of half a sine wave, in units of its standard deviation (= 1.1807)."""

MODIS_LAI_START = np.datetime64("2002-07-04")
"""First day of the combined Terra+Aqua MODIS LAI/FPAR product MCD15A2H; FluxDataKit LAI before it is
a filled-in mean seasonal cycle, not an observation, and is masked."""

VARIABLE_ATTRS: dict[str, dict[str, str]] = {name: var.attrs() for name, var in VARIABLES.items()}
"""CF attributes (``units``, ``long_name``, ``standard_name``, ``cell_methods``) of every variable the readers
produce, taken from the variable registry :data:`bayeslsm.data.variables.VARIABLES`."""

CITATION_FLUXNET = (
    "Pastorello et al. (2020) Sci. Data 7:225, doi:10.1038/s41597-020-0534-3; cite the site's data DOI "
    "and acknowledge the site PI team (CC BY 4.0)"
)
CITATION_FLUXDATAKIT = "FluxDataKit, doi:10.5281/zenodo.10885933; " + CITATION_FLUXNET

Product = Literal["oneflux", "fluxdatakit", "era"]

_FORCING_COLUMNS: dict[str, tuple[str, ...]] = {
    "ta": ("TA_F", "TA_F_MDS"),
    "swrad": ("SW_IN_F", "SW_IN_F_MDS"),
    "vpd": ("VPD_F", "VPD_F_MDS"),
    "precip": ("P_F",),
    "co2": ("CO2_F_MDS",),
    "tmin": ("TMIN_F_MDS", "TMIN_F"),
    "tmax": ("TMAX_F_MDS", "TMAX_F"),
}
_REQUIRED_FORCING = ("ta", "swrad", "vpd", "precip", "co2")
_ERA_COLUMNS = {"ta": "TA_ERA", "swrad": "SW_IN_ERA", "vpd": "VPD_ERA", "precip": "P_ERA"}
_DAY_NIGHT_COLUMNS = (
    ("TA_F_DAY", "TA_F_DAY_SD", "TA_F_NIGHT", "TA_F_NIGHT_SD"),
    ("TA_F_MDS_DAY", "TA_F_MDS_DAY_SD", "TA_F_MDS_NIGHT", "TA_F_MDS_NIGHT_SD"),
)
_ERA_DAY_NIGHT = ("TA_ERA_DAY", "TA_ERA_DAY_SD", "TA_ERA_NIGHT", "TA_ERA_NIGHT_SD")

# plausibility of raw columns (file units): (statistic, lower, upper, what the failure looks like)
_PLAUSIBLE: dict[str, tuple[str, float, float, str]] = {
    "temperature": ("mean", -60.0, 60.0, "looks like K where degC expected"),
    "swrad": ("max", -1.0, 1400.0, "expected a daily mean in W m-2 (below ~500); looks like a sum or J m-2"),
    "vpd": ("max", -1.0, 150.0, "expected hPa; looks like Pa"),
    "precip": ("max", -1.0, 2000.0, "expected mm d-1"),
    "co2": ("mean", 150.0, 2000.0, "expected ppm (umol mol-1)"),
    "carbon": ("absmax", -1.0, 100.0, "expected gC m-2 d-1"),
    "LE": ("mean", -200.0, 500.0, "expected a daily mean in W m-2"),
}
_FILE_RE = re.compile(r"(?:FLX|AMF)_([A-Z]{2}-[A-Za-z0-9]{3})_")
_RES_RE = re.compile(r"_(HH|HR|DD|WW|MM|YY)_")

# --------------------------------------------------------------------------------------------------
# small helpers shared with bayeslsm.data.ameriflux


def _var_attrs(name: str, **extra: Any) -> dict[str, Any]:
    """CF attributes of ``name`` plus ``extra`` (None values dropped)."""
    attrs = dict(VARIABLE_ATTRS[name])
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def _as_timestamp(value: Any, argname: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"`{argname}` must be a date (e.g. '2019-01-01'); got {value!r}") from err


def _read_table(
    path: Path, *, timestamp_columns: tuple[str, ...], comment: str | None = None, handle: Any = None
) -> pd.DataFrame:
    """Read a CSV with ``NA`` as missing; timestamps as text; raise EmptyFileError for no data.

    ``handle`` (an open file, e.g. a zip member) is read instead of ``path``, which then only names
    the source in messages.
    """
    if handle is None:
        if not path.is_file():
            raise FileNotFoundError(f"file '{path}' not found")
        if path.stat().st_size == 0:
            raise EmptyFileError(path, "the file is empty (0 bytes)")
        _check_text_file(path)
    try:
        df = pd.read_csv(
            path if handle is None else handle,
            na_values=["NA", "NaN", "nan", ""],
            keep_default_na=False,
            dtype={c: str for c in timestamp_columns},
            comment=comment,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise EmptyFileError(path, "the file has no header and no data") from None
    except UnicodeDecodeError as err:
        raise DataFileError(path, f"expected UTF-8 CSV text; found undecodable bytes at offset {err.start}") from None
    except pd.errors.ParserError as err:
        raise DataFileError(path, f"not a valid CSV file: {str(err).strip()}") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise EmptyFileError(path, f"the file has a header ({len(df.columns)} columns) but no data rows")
    return df


def _check_text_file(path: Path) -> None:
    """A CSV file is text (no NUL byte in its first 64 kB) and its last row has as many fields as the header
    (a file cut short while copying would otherwise read as missing values in the last row)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(65536)
        if b"\x00" in head:
            raise DataFileError(path, f"expected CSV text; found a NUL byte at offset {head.index(0)} (a binary file?)")
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    header = head.split(b"\n", 1)[0]
    lines = [ln for ln in tail.rstrip(b"\r\n").split(b"\n") if ln.strip()]
    if len(lines) < 2 or b"\n" not in head.rstrip(b"\r\n") or header.startswith(b"#"):
        return
    n_head, n_last = header.count(b","), lines[-1].count(b",")
    if b'"' not in header and b'"' not in lines[-1] and n_last < n_head:
        raise DataFileError(
            path, f"the last row has {n_last + 1} fields; the header has {n_head + 1} (is the file truncated?)")


def _numeric(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Column as float64 with fill values (-9999) as NaN; non-numeric text is an error."""
    s = df[column]
    if not pd.api.types.is_numeric_dtype(s):
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna() & s.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFileError(
                path, f"expected numbers (or -9999/NA for missing); found {s.iloc[i]!r} at data row {i + 1}",
                column=column,
            )
        s = conv
    v = np.array(s.to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)
    v[v == FILL_VALUE] = np.nan
    inf = np.isinf(v)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise DataFileError(
            path, f"expected finite numbers (or -9999/NA for missing); found {s.iloc[i]!r} at data row {i + 1} "
            f"({int(inf.sum())} infinite values)", column=column,
        )
    return v


def _has_data(df: pd.DataFrame, column: str, path: Path) -> bool:
    return column in df.columns and bool(np.isfinite(_numeric(df, column, path)).any())


def _pick(df: pd.DataFrame, candidates: tuple[str, ...], path: Path) -> str | None:
    """First candidate column with data; else the first one present; else None."""
    present = [c for c in candidates if c in df.columns]
    for c in present:
        if _has_data(df, c, path):
            return c
    return present[0] if present else None


def _require(df: pd.DataFrame, var: str, candidates: tuple[str, ...], path: Path) -> str:
    col = _pick(df, candidates, path)
    if col is None:
        shown = ", ".join(list(df.columns[:12])) + (", ..." if len(df.columns) > 12 else "")
        raise MissingVariableError(
            path,
            f"missing required variable {var!r}: expected a column named one of {list(candidates)}; "
            f"found {len(df.columns)} columns ({shown})",
        )
    return col


def _parse_dates(raw: pd.Series, path: Path, column: str, formats: tuple[str, ...]) -> pd.DatetimeIndex:
    s = raw.astype(str).str.strip()
    best = None
    for fmt in formats:
        t = pd.to_datetime(s, format=fmt, errors="coerce")
        if t.notna().all():
            return pd.DatetimeIndex(t).as_unit("ns")
        if best is None or t.notna().sum() > best.notna().sum():
            best = t
    i = int(np.flatnonzero(best.isna().to_numpy())[0])
    human = {"%Y%m%d": "YYYYMMDD", "%Y-%m-%d": "YYYY-MM-DD", "%Y%m%d%H%M": "YYYYMMDDHHMM"}
    raise TimestampError(
        path,
        f"cannot parse timestamp {raw.iloc[i]!r} at data row {i + 1}; expected format "
        f"{' or '.join(human.get(f, f) for f in formats)}",
        column=column,
    )


def _check_time_axis(t: pd.DatetimeIndex, path: Path, column: str, step: pd.Timedelta | None) -> None:
    """Unique, strictly increasing and (``step`` given) every step equal to ``step``."""
    dup = t.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        j = int(np.flatnonzero(t == t[i])[0])
        raise TimeAxisError(path, f"duplicate timestamp {t[i]} at data rows {j + 1} and {i + 1}", column=column)
    if t.size < 2:
        return
    d = np.diff(t.values.astype("datetime64[ns]")).astype(np.int64)
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        raise TimeAxisError(
            path, f"timestamps must increase; {t[i + 1]} (data row {i + 2}) follows {t[i]} (row {i + 1})",
            column=column,
        )
    if step is not None:
        bad = np.flatnonzero(d != step.value)
        if bad.size:
            i = int(bad[0])
            found = pd.Timedelta(int(d[i]), "ns")
            raise TimeAxisError(
                path,
                f"expected consecutive steps of {step}; found a step of {found} between {t[i]} and {t[i + 1]} "
                f"(data rows {i + 1}-{i + 2})",
                column=column,
            )


# file column kind -> (registry name, file units -> registry units factor, file units)
_REGISTRY_CHECK: dict[str, tuple[str, float, str]] = {
    "temperature": ("ta", 1.0, "degC"),
    "swrad": ("swrad", SW_W_M2_TO_MJ_DAY, "W m-2"),
    "vpd": ("vpd", HPA_TO_KPA, "hPa"),
    "precip": ("precip", 1.0, "mm d-1"),
    "co2": ("co2", 1.0, "ppm"),
    "LE": ("LE", 1.0, "W m-2"),
}


def _check_plausible(values: np.ndarray, kind: str, path: Path, column: str) -> None:
    """Raise UnitsError where a column's values, seasonal maximum or mean are implausible for its units
    (ranges of the registry, :data:`bayeslsm.data.variables.PLAUSIBLE`)."""
    from bayeslsm.data.plausibility import implausible

    v = values[np.isfinite(values)]
    if v.size == 0:
        return
    stat, lo, hi, hint = _PLAUSIBLE[kind]
    x = {"mean": v.mean(), "max": v.max(), "absmax": np.abs(v).max()}[stat]
    if not lo <= x <= hi:
        raise UnitsError(path, f"implausible values: {stat} = {x:.4g} outside [{lo:g}, {hi:g}]; {hint}", column=column)
    if kind in _REGISTRY_CHECK:
        name, scale, units = _REGISTRY_CHECK[kind]
        problem = implausible(np.asarray(values, dtype=float) * scale, name, scale=scale, file_units=units)
        if problem is not None:
            row = "" if problem.index is None else f" (data row {problem.index + 1})"
            raise UnitsError(path, problem.message + row, column=column)


def _subset(df: pd.DataFrame, t: pd.DatetimeIndex, start, end, path: Path):
    t0, t1 = _as_timestamp(start, "start"), _as_timestamp(end, "end")
    keep = np.ones(t.size, dtype=bool)
    if t0 is not None:
        keep &= t >= t0
    if t1 is not None:
        keep &= t <= t1
    if not keep.any():
        raise EmptyFileError(
            path, f"no data between start={start!r} and end={end!r}; the file covers {t[0].date()}..{t[-1].date()}"
        )
    return df.loc[keep].reset_index(drop=True), t[keep]


def _span(t: pd.DatetimeIndex, mask: np.ndarray) -> str:
    """First..last day of ``t`` where ``mask`` holds."""
    return f"{t[mask][0].date()}..{t[mask][-1].date()}" if mask.any() else "no day"


def _site_metadata(
    site: str | None, lat, lon, igbp, pft, file_meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Arguments override file metadata, which overrides the site table."""
    meta: dict[str, Any] = {}
    if site is not None and site in SITES:
        info = SITES[site]
        meta.update(lat=info.lat, lon=info.lon, igbp=info.igbp, elev=info.elev, site_name=info.name,
                    metadata_source=f"bayeslsm.data.sites ({info.source})")
    if file_meta:
        meta.update({k: v for k, v in file_meta.items() if v is not None})
    for k, v in {"lat": lat, "lon": lon, "igbp": igbp}.items():
        if v is not None:
            meta[k] = v
    if "igbp" in meta:
        meta["igbp"] = str(meta["igbp"]).upper()
    if pft is not None:
        meta["pft"] = str(pft)
    elif "igbp" in meta:
        meta["pft"] = igbp_to_pft(meta["igbp"])
    for k in ("lat", "lon"):
        if k in meta:
            meta[k] = float(meta[k])
    if "lat" in meta and not -90.0 <= meta["lat"] <= 90.0:
        raise ValueError(f"`lat` must be within [-90, 90] degrees; got {meta['lat']}")
    return meta


def _assemble(
    variables: dict[str, tuple[np.ndarray, dict[str, Any]]],
    time: pd.DatetimeIndex,
    site: str | None,
    meta: dict[str, Any],
    attrs: dict[str, Any],
) -> xr.Dataset:
    ds = xr.Dataset({k: ("time", v, a) for k, (v, a) in variables.items()}, coords={"time": time.values})
    ds["time"].attrs.update(long_name="date (FLUXNET day, local standard time)")
    coords: dict[str, Any] = {}
    if site is not None:
        coords["site"] = ((), site, {"long_name": "FLUXNET site id"})
    for k in ("lat", "lon"):
        if k in meta:
            coords[k] = ((), meta[k], dict(VARIABLE_ATTRS[k]))
    if "pft" in meta:
        coords["pft"] = ((), meta["pft"], {"long_name": "plant functional type"})
    ds = ds.assign_coords(coords)
    gattrs: dict[str, Any] = {"Conventions": "CF-1.8"}
    if site is not None:
        gattrs["site"] = site
    keys = ("lat", "lon", "elev", "igbp", "pft", "site_name", "metadata_source")
    gattrs.update({k: meta[k] for k in keys if k in meta})
    gattrs.update({k: v for k, v in attrs.items() if v is not None})
    ds.attrs.update(gattrs)
    return ds


# --------------------------------------------------------------------------------------------------
# public functions


def tminmax_from_day_night(
    ta: np.ndarray, t_day: np.ndarray, sd_day: np.ndarray, t_night: np.ndarray, sd_night: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Daily Tmin and Tmax from daytime and night-time means and standard deviations.

    Each half-day is taken as half a sine wave: its extreme lies ``TMINMAX_SD_FACTOR`` (1.1807) SDs
    from its mean. ``tmax = t_day + c sd_day``, ``tmin = t_night - c sd_night``; without daytime data
    (polar night) both come from the night statistics, without night-time data from the day ones;
    finally ``tmin <= ta <= tmax`` is imposed. A missing SD next to a present mean counts as 0.

    Parameters
    ----------
    ta
        Daily mean air temperature [degC].
    t_day, sd_day
        Mean and standard deviation of the daytime half-hourly air temperature [degC].
    t_night, sd_night
        The same for night-time [degC].

    Returns
    -------
    tmin, tmax : numpy.ndarray
        [degC]; NaN where neither half has data.

    Examples
    --------
    >>> import numpy as np
    >>> tmin, tmax = tminmax_from_day_night(np.array([10.0]), np.array([13.0]), np.array([2.0]),
    ...                                     np.array([7.0]), np.array([1.0]))
    >>> np.round(tmin, 2), np.round(tmax, 2)
    (array([5.82]), array([15.36]))
    """
    c = TMINMAX_SD_FACTOR
    ta, t_day, t_night = (np.asarray(x, dtype=float) for x in (ta, t_day, t_night))
    sd_day = np.where(np.isfinite(t_day), np.nan_to_num(np.asarray(sd_day, dtype=float)), np.nan)
    sd_night = np.where(np.isfinite(t_night), np.nan_to_num(np.asarray(sd_night, dtype=float)), np.nan)
    tmax = t_day + c * sd_day
    tmin = t_night - c * sd_night
    tmax = np.where(np.isfinite(tmax), tmax, t_night + c * sd_night)
    tmin = np.where(np.isfinite(tmin), tmin, t_day - c * sd_day)
    return np.fmin(tmin, ta), np.fmax(tmax, ta)


def detect_product(path: str | Path, columns: list[str] | None = None) -> Product:
    """Which daily FLUXNET-format product a file is: ``"oneflux"``, ``"fluxdatakit"`` or ``"era"``.

    The file name decides where it carries the product (``FLUXNET2015``/``FULLSET``/``SUBSET``,
    ``FLUXDATAKIT``/``PLUMBER``, ``ERAI``), the columns otherwise (``TMIN_F_MDS``/``LAI`` ->
    FluxDataKit; ``TA_F``/``NEE_VUT_REF_QC`` -> ONEFlux; only ``*_ERA`` -> ERA). A file name or a
    header that says half-hourly, hourly, weekly, monthly or yearly is an error.

    Parameters
    ----------
    path
        The CSV file.
    columns
        Its header, when already read (otherwise the first line is read).

    Returns
    -------
    str

    Raises
    ------
    TimeAxisError
        Not a daily file.
    DataFileError
        Not recognisable.

    Examples
    --------
    >>> detect_product("FLX_FI-Ken_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv", ["TIMESTAMP", "TA_ERA"])
    'era'
    """
    path = Path(path)
    name = path.name.upper()
    res = _RES_RE.search(name)
    if res and res.group(1) != "DD":
        hint = ""
        if res.group(1) in ("HH", "HR"):
            hint = " (use bayeslsm.data.read_ameriflux_base for half-hourly BASE files)"
        raise TimeAxisError(
            path, f"the file name says resolution {res.group(1)!r}; this reader reads daily ('DD') files{hint}"
        )
    if columns is None:
        if not path.is_file():
            raise FileNotFoundError(f"file '{path}' not found")
        with open(path, encoding="utf-8", errors="replace") as fh:
            columns = [c.strip() for c in fh.readline().strip().split(",")]
    cols = set(columns)
    if "TIMESTAMP_START" in cols:
        raise TimeAxisError(
            path, "the file has TIMESTAMP_START/TIMESTAMP_END (half-hourly or hourly format); this reader reads "
            "daily ('DD') files (use bayeslsm.data.read_ameriflux_base for AmeriFlux BASE files)",
            column="TIMESTAMP_START",
        )
    if "_ERAI_" in name:
        return "era"
    if "FLUXDATAKIT" in name or "PLUMBER" in name:
        return "fluxdatakit"
    if "FLUXNET2015" in name or "FULLSET" in name or "SUBSET" in name:
        return "oneflux"
    data_cols = cols - {"TIMESTAMP"}
    if data_cols and all(c.split("_")[-1] in ("ERA", "SD", "DAY", "NIGHT") and "_ERA" in c for c in data_cols):
        return "era"
    if {"TMIN_F_MDS", "TMAX_F_MDS"} & cols or "LAI" in cols:
        return "fluxdatakit"
    if "TA_F" in cols or "NEE_VUT_REF_QC" in cols or "TA_F_MDS" in cols:
        return "oneflux"
    raise DataFileError(
        path, f"not a recognised daily FLUXNET-format file (ONEFlux FULLSET/SUBSET, FluxDataKit or ERAI): "
        f"columns {sorted(cols)[:10]}"
    )


def _load_daily(path: Path, start, end) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    df = _read_table(path, timestamp_columns=("TIMESTAMP",))
    detect_product(path, list(df.columns))  # raises for half-hourly/monthly files and unknown formats
    if "TIMESTAMP" not in df.columns:
        raise MissingVariableError(path, f"missing required column 'TIMESTAMP'; found columns {list(df.columns[:8])}")
    t = _parse_dates(df["TIMESTAMP"], path, "TIMESTAMP", ("%Y%m%d", "%Y-%m-%d"))
    _check_time_axis(t, path, "TIMESTAMP", pd.Timedelta(days=1))
    return _subset(df, t, start, end, path)


def _era_forcing(df: pd.DataFrame, path: Path) -> dict[str, np.ndarray]:
    """Model-unit drivers from the ``*_ERA`` columns of a frame (missing columns skipped)."""
    out: dict[str, np.ndarray] = {}
    if "TA_ERA" in df.columns:
        out["ta"] = _numeric(df, "TA_ERA", path)
        _check_plausible(out["ta"], "temperature", path, "TA_ERA")
        if all(c in df.columns for c in _ERA_DAY_NIGHT):
            d, sd, n, sn = (_numeric(df, c, path) for c in _ERA_DAY_NIGHT)
            out["tmin"], out["tmax"] = tminmax_from_day_night(out["ta"], d, sd, n, sn)
    if "SW_IN_ERA" in df.columns:
        sw = _numeric(df, "SW_IN_ERA", path)
        _check_plausible(sw, "swrad", path, "SW_IN_ERA")
        out["swrad"] = sw * SW_W_M2_TO_MJ_DAY
    if "VPD_ERA" in df.columns:
        vpd = _numeric(df, "VPD_ERA", path)
        _check_plausible(vpd, "vpd", path, "VPD_ERA")
        out["vpd"] = vpd * HPA_TO_KPA
    if "P_ERA" in df.columns:
        out["precip"] = _numeric(df, "P_ERA", path)
        _check_plausible(out["precip"], "precip", path, "P_ERA")
    return out


def read_era_drivers(
    path: str | Path,
    *,
    site: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    igbp: str | None = None,
    pft: str | None = None,
    start=None,
    end=None,
) -> xr.Dataset:
    """Read a FLUXNET2015/ONEFlux ERA-Interim downscaled daily driver file (``*_ERAI_DD_*.csv``).

    Useful for spin-up (the files start in 1989) and for filling gaps in site forcing
    (``read_fluxnet(..., era_path=...)``).

    Parameters
    ----------
    path
        The ``FLX_<site>_FLUXNET2015_ERAI_DD_<years>_<version>.csv`` file (-9999 fill).
    site, lat, lon, igbp, pft
        Site metadata; default: site id from the file name, the rest from :mod:`bayeslsm.data.sites`.
    start, end
        First and last day to keep (inclusive).

    Returns
    -------
    xarray.Dataset
        ``ta, tmin, tmax, swrad, par, vpd, precip, doy`` on a daily ``time`` axis (no ``co2``: ERA
        files carry none). Columns: ``TA_ERA``, ``SW_IN_ERA`` x 0.0864, ``VPD_ERA`` / 10, ``P_ERA``;
        Tmin/Tmax from ``TA_ERA_DAY``/``TA_ERA_NIGHT`` and their SDs (:func:`tminmax_from_day_night`).

    Raises
    ------
    DataFileError
        See :func:`read_fluxnet`.

    Examples
    --------
    >>> era = read_era_drivers("FLX_FI-Ken_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv")  # doctest: +SKIP
    >>> float(era.precip.sel(time="2018").sum())  # doctest: +SKIP
    """
    path = Path(path)
    df, t = _load_daily(path, start, end)
    detect_product(path, list(df.columns))
    for col in ("TA_ERA", "SW_IN_ERA", "VPD_ERA", "P_ERA"):
        if col not in df.columns:
            raise MissingVariableError(
                path, f"missing required ERA column {col!r}; expected TA_ERA, SW_IN_ERA, VPD_ERA and P_ERA"
            )
    era = _era_forcing(df, path)
    era["par"] = era["swrad"] * PAR_FRACTION
    era["doy"] = t.day_of_year.to_numpy().astype(float)
    file_site = _site_from_name(path)
    if site is not None and file_site is not None and site != file_site:
        raise DataFileError(path, f"`site` is {site!r} but the file name says site {file_site!r}: wrong file for "
                                  f"this site? (pass the site's own file, or site={file_site!r})")
    site = site or file_site
    meta = _site_metadata(site, lat, lon, igbp, pft)
    src = {"ta": "TA_ERA", "swrad": "SW_IN_ERA", "par": "SW_IN_ERA", "vpd": "VPD_ERA", "precip": "P_ERA",
           "tmin": "TA_ERA_NIGHT, TA_ERA_NIGHT_SD, TA_ERA", "tmax": "TA_ERA_DAY, TA_ERA_DAY_SD, TA_ERA", "doy": None}
    variables = {k: (era[k], _var_attrs(k, source_column=src[k])) for k in
                 ("ta", "tmin", "tmax", "swrad", "par", "vpd", "precip", "doy") if k in era}
    return _assemble(variables, t, site, meta, {
        "product": "ERA-Interim downscaled daily drivers (FLUXNET2015/ONEFlux ERAI DD)",
        "source_file": path.name,
        "references": CITATION_FLUXNET,
    })


def _site_from_name(path: Path) -> str | None:
    m = _FILE_RE.search(path.name)
    return m.group(1) if m else None


def _qc_filter(
    values: np.ndarray, qc: np.ndarray | None, threshold: float | None
) -> tuple[np.ndarray, int, bool]:
    """Mask values whose QC < threshold (or whose QC is missing). Returns (values, n_rejected, applied)."""
    if threshold is None or qc is None or not np.isfinite(qc).any():
        return values, 0, False
    keep = np.isfinite(qc) & (qc >= threshold)
    reject = np.isfinite(values) & ~keep
    out = np.where(keep, values, np.nan)
    return out, int(reject.sum()), True


def read_fluxnet(
    path: str | Path,
    *,
    site: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    igbp: str | None = None,
    pft: str | None = None,
    era_path: str | Path | None = None,
    qc_threshold: float | None = QC_THRESHOLD,
    qc_missing: Literal["warn", "ignore", "raise"] = "warn",
    partitioning: Literal["NT", "DT"] = "NT",
    le_column: Literal["LE_F_MDS", "LE_CORR"] = "LE_F_MDS",
    start=None,
    end=None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Read a daily FLUXNET2015/ONEFlux (FULLSET or SUBSET) or FluxDataKit file into forcing and observations.

    The product is detected from the file name and columns (:func:`detect_product`). Column mappings,
    unit conversions, the Tmin/Tmax rule and the QC rule are in the module docstring.

    Parameters
    ----------
    path
        ``FLX_<site>_..._DD_....csv``.
    site
        Site id; default: from the file name (``FLX_<site>_``).
    lat, lon, igbp, pft
        Site metadata [degrees_north, degrees_east, IGBP class, model PFT]; each overrides the site
        table :data:`bayeslsm.data.sites.SITES` (``pft`` defaults to the PFT of the IGBP class).
    era_path
        The site's ``*_ERAI_DD_*.csv`` file: NaN days of ``ta, tmin, tmax, swrad, vpd, precip`` are
        filled from ``TA_ERA, SW_IN_ERA, VPD_ERA, P_ERA`` (same conversions; Tmin/Tmax by the
        day/night rule). ``co2`` has no ERA counterpart. The number of filled days is recorded per
        variable (``n_filled_from_era``) and in ``forcing.attrs["era_filled_days"]``.
    qc_threshold
        Minimum daily QC fraction [0-1] for NEE, GPP, RECO (``NEE_VUT_REF_QC``) and LE/ET
        (``LE_F_MDS_QC``); ``None`` keeps every day.
    qc_missing
        What to do when a stream with data has no usable QC column: ``"warn"``
        (:class:`DataQualityWarning`, stream kept unfiltered), ``"ignore"`` (kept, no warning) or
        ``"raise"`` (:class:`MissingVariableError`).
    partitioning
        ``"NT"`` (night-time, Reichstein et al. 2005) or ``"DT"`` (daytime, Lasslop et al. 2010)
        partitioning for GPP and RECO.
    le_column
        ``"LE_F_MDS"`` (default; matches ``LE_RANDUNC`` and ``LE_F_MDS_QC``) or the energy-balance
        corrected ``"LE_CORR"`` (uncertainty ``LE_CORR_JOINTUNC``).
    start, end
        First and last day to keep (inclusive), e.g. ``"2019-01-01"``.

    Returns
    -------
    forcing : xarray.Dataset
        ``ta, tmin, tmax, swrad, par, co2, precip, vpd, doy`` [degC, degC, degC, MJ m-2 d-1,
        MJ m-2 d-1, ppm, mm d-1, kPa, 1] on a daily ``time`` axis.
    obs : xarray.Dataset
        ``NEE, GPP, RECO`` [gC m-2 d-1], ``LE`` [W m-2], ``ET`` [mm d-1], ``LAI`` [m2 m-2], ``FPAR``
        [1] where the file has them (streams whose column is entirely empty are left out and named
        in ``attrs["empty_streams"]``), with ``*_unc`` uncertainties and ``NEE_qc``/``LE_qc``.

    Both carry scalar coordinates ``site``, ``lat``, ``lon``, ``pft`` (where known) and attributes
    ``site, lat, lon, igbp, pft, product, source_file``.

    Raises
    ------
    MissingVariableError
        A required forcing column (TA, SW_IN, VPD, P, CO2) or every observation column is missing.
    TimestampError, TimeAxisError
        Unparseable, duplicated or non-increasing timestamps; steps that are not one day.
    UnitsError
        Implausible values for the documented units (e.g. mean TA > 60: Kelvin).
    EmptyFileError
        No data rows (or none between ``start`` and ``end``).
    NoOverlapError
        Forcing and observations share no day, or the ERA file does not cover the site record.

    Warns
    -----
    DataQualityWarning
        Streams left unfiltered for want of QC (``qc_missing="warn"``); Tmin == Tmax == TA on every
        day (no diurnal range in the product, FR-Pue).

    Examples
    --------
    >>> forcing, obs = read_fluxnet(  # doctest: +SKIP
    ...     "FLX_FI-Ken_FLUXNET2015_FULLSET_DD_2018-2020_beta-3.csv",
    ...     era_path="FLX_FI-Ken_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv")
    >>> forcing.precip.attrs["units"], int(forcing.precip.isnull().sum())  # doctest: +SKIP
    ('mm d-1', 0)
    """
    path = Path(path)
    if qc_missing not in ("warn", "ignore", "raise"):
        raise ValueError(f"`qc_missing` must be 'warn', 'ignore' or 'raise'; got {qc_missing!r}")
    if partitioning not in ("NT", "DT"):
        raise ValueError(f"`partitioning` must be 'NT' or 'DT'; got {partitioning!r}")
    if le_column not in ("LE_F_MDS", "LE_CORR"):
        raise ValueError(f"`le_column` must be 'LE_F_MDS' or 'LE_CORR'; got {le_column!r}")
    if qc_threshold is not None and not 0.0 <= qc_threshold <= 1.0:
        raise ValueError(f"`qc_threshold` must be a fraction in [0, 1] or None; got {qc_threshold!r}")

    df, t = _load_daily(path, start, end)
    product = detect_product(path, list(df.columns))
    if product == "era":
        raise DataFileError(
            path, "this is an ERA-Interim driver file (no fluxes); read it with read_era_drivers or pass it "
            "as `era_path` to read_fluxnet with the site's FULLSET/SUBSET file"
        )
    file_site = _site_from_name(path)
    if site is not None and file_site is not None and site != file_site:
        raise DataFileError(path, f"`site` is {site!r} but the file name says site {file_site!r}: wrong file for "
                                  f"this site? (pass the site's own file, or site={file_site!r})")
    site = site or file_site
    meta = _site_metadata(site, lat, lon, igbp, pft)

    # ---------------------------------------------------------------- forcing
    forcing: dict[str, np.ndarray] = {}
    fattrs: dict[str, dict[str, Any]] = {}
    for var in _REQUIRED_FORCING:
        col = _require(df, var, _FORCING_COLUMNS[var], path)
        raw = _numeric(df, col, path)
        kind = {"ta": "temperature"}.get(var, var)
        _check_plausible(raw, kind, path, col)
        conv = {"swrad": SW_W_M2_TO_MJ_DAY, "vpd": HPA_TO_KPA}.get(var, 1.0)
        forcing[var] = raw * conv
        note = {"swrad": f"{col} [W m-2, daily mean] x 0.0864", "vpd": f"{col} [hPa] / 10"}.get(var)
        fattrs[var] = {"source_column": col, "conversion": note}

    day_night = next((cols for cols in _DAY_NIGHT_COLUMNS if all(c in df.columns for c in cols)), None)
    for var in ("tmin", "tmax"):
        col = _pick(df, _FORCING_COLUMNS[var], path)
        if col is not None and _has_data(df, col, path):
            raw = _numeric(df, col, path)
            _check_plausible(raw, "temperature", path, col)
            forcing[var] = raw
            fattrs[var] = {"source_column": col}
    if "tmin" not in forcing or "tmax" not in forcing:
        if day_night is None:
            expected = list(_FORCING_COLUMNS["tmin"] + _FORCING_COLUMNS["tmax"])
            raise MissingVariableError(
                path, f"missing Tmin/Tmax: expected columns {expected} "
                f"or the day/night means and SDs {list(_DAY_NIGHT_COLUMNS[0])} to derive them"
            )
        d, sd, n, sn = (_numeric(df, c, path) for c in day_night)
        for c, v in zip(day_night[::2], (d, n)):
            _check_plausible(v, "temperature", path, c)
        tmin, tmax = tminmax_from_day_night(forcing["ta"], d, sd, n, sn)
        rule = (f"half-sine rule: tmax = {day_night[0]} + {TMINMAX_SD_FACTOR:.4f} x {day_night[1]}, tmin = "
                f"{day_night[2]} - {TMINMAX_SD_FACTOR:.4f} x {day_night[3]}; then tmin <= ta <= tmax "
                f"(bayeslsm.data.fluxnet.tminmax_from_day_night)")
        for var, v, cols in (("tmin", tmin, day_night[2:]), ("tmax", tmax, day_night[:2])):
            if var not in forcing:
                forcing[var] = v
                fattrs[var] = {"source_column": ", ".join(cols), "derivation": rule}
    if np.isfinite(forcing["tmin"]).any():
        same = np.isclose(forcing["tmin"], forcing["tmax"]) & np.isfinite(forcing["tmin"])
        if same.sum() >= 0.99 * np.isfinite(forcing["tmin"]).sum():
            msg = (f"file '{path}': tmin == tmax on {int(same.sum())} of {int(np.isfinite(forcing['tmin']).sum())} "
                   f"days ({fattrs['tmin']['source_column']}, {fattrs['tmax']['source_column']}): the product has no "
                   f"diurnal temperature range; models that use tmax - tmin will see none")
            fattrs["tmin"]["caveat"] = fattrs["tmax"]["caveat"] = "no diurnal range: tmin == tmax == ta in the file"
            warnings.warn(msg, DataQualityWarning, stacklevel=2)

    n_filled: dict[str, int] = {}
    if era_path is not None:
        era_path = Path(era_path)
        edf, et = _load_daily(era_path, None, None)
        if detect_product(era_path, list(edf.columns)) != "era":
            raise DataFileError(era_path, "`era_path` is not an ERA-Interim driver file (expected *_ERA columns)")
        era_site = _site_from_name(era_path)
        if site is not None and era_site is not None and era_site != site:
            raise DataFileError(era_path, f"ERA file is for site {era_site!r}; the flux file is for {site!r}")
        era = _era_forcing(edf, era_path)
        common = t.intersection(et)
        if common.size == 0:
            raise NoOverlapError(
                era_path, f"the ERA file covers {et[0].date()}..{et[-1].date()}; the site file "
                f"{path.name} covers {t[0].date()}..{t[-1].date()}: no day in common"
            )
        pos = et.get_indexer(t)
        for var in ("ta", "tmin", "tmax", "swrad", "vpd", "precip"):
            if var not in era:
                continue
            aligned = np.where(pos >= 0, era[var][np.clip(pos, 0, None)], np.nan)
            fill = ~np.isfinite(forcing[var]) & np.isfinite(aligned)
            forcing[var] = np.where(fill, aligned, forcing[var])
            n_filled[var] = int(fill.sum())
            fattrs[var]["n_filled_from_era"] = n_filled[var]
            fattrs[var]["era_column"] = _ERA_COLUMNS.get(var, "TA_ERA_DAY/NIGHT (+ _SD)")
        if fattrs["tmin"].get("derivation"):
            forcing["tmin"] = np.fmin(forcing["tmin"], forcing["ta"])
            forcing["tmax"] = np.fmax(forcing["tmax"], forcing["ta"])

    forcing["par"] = forcing["swrad"] * PAR_FRACTION
    fattrs["par"] = {"source_column": fattrs["swrad"]["source_column"], "conversion": "0.5 x swrad"}
    forcing["doy"] = t.day_of_year.to_numpy().astype(float)
    fattrs["doy"] = {}
    order = ("ta", "tmin", "tmax", "swrad", "par", "co2", "precip", "vpd", "doy")
    fvars = {}
    for k in order:
        extra = dict(fattrs[k])
        if k != "doy":
            extra["n_missing"] = int((~np.isfinite(forcing[k])).sum())
        fvars[k] = (forcing[k], _var_attrs(k, **extra))

    # ---------------------------------------------------------------- observations
    p = partitioning
    le_unc = "LE_RANDUNC" if le_column == "LE_F_MDS" else "LE_CORR_JOINTUNC"
    streams: dict[str, dict[str, Any]] = {
        "NEE": {"col": "NEE_VUT_REF", "qc": ("NEE_VUT_REF_QC",), "unc": "NEE_VUT_REF_RANDUNC", "kind": "carbon"},
        "GPP": {"col": f"GPP_{p}_VUT_REF", "qc": ("NEE_VUT_REF_QC", f"GPP_{p}_VUT_REF_QC"),
                "unc": f"GPP_{p}_VUT_SE" if product == "oneflux" else None, "kind": "carbon"},
        "RECO": {"col": f"RECO_{p}_VUT_REF", "qc": ("NEE_VUT_REF_QC", f"RECO_{p}_VUT_REF_QC"),
                 "unc": f"RECO_{p}_VUT_SE" if product == "oneflux" else None, "kind": "carbon"},
        "LE": {"col": le_column, "qc": ("LE_F_MDS_QC",), "unc": le_unc, "kind": "LE"},
        "LAI": {"col": "LAI", "qc": (), "unc": None, "kind": None},
        "FPAR": {"col": "FPAR", "qc": (), "unc": None, "kind": None},
    }
    ovars: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    empty: list[str] = []
    unfiltered: list[str] = []
    for name, spec in streams.items():
        col = spec["col"]
        if col not in df.columns:
            continue
        v = _numeric(df, col, path)
        if not np.isfinite(v).any():
            empty.append(f"{name} ({col})")
            continue
        if spec["kind"] is not None:
            _check_plausible(v, spec["kind"], path, col)
        extra: dict[str, Any] = {"source_column": col}
        qcol = next((c for c in spec["qc"] if _has_data(df, c, path)), None)
        qc = _numeric(df, qcol, path) if qcol is not None else None
        if spec["qc"]:
            v, n_rej, applied = _qc_filter(v, qc, qc_threshold)
            if applied:
                extra.update(qc_column=qcol, qc_threshold=float(qc_threshold), qc_applied="yes",
                             n_rejected_by_qc=n_rej)
            elif qc_threshold is None:
                extra["qc_applied"] = "no (qc_threshold=None)"
            else:
                extra["qc_applied"] = f"no ({' / '.join(spec['qc'])} absent or empty in the file)"
                unfiltered.append(f"{name} ({' / '.join(spec['qc'])})")
        if name == "LAI" and product == "fluxdatakit":
            early = (t.values < MODIS_LAI_START) & np.isfinite(v)
            if early.any():
                v = np.where(early, np.nan, v)
                extra.update(n_masked_before_modis=int(early.sum()),
                             caveat=f"days before {MODIS_LAI_START} (start of MODIS MCD15A2H) are a mean "
                             f"seasonal cycle filled in by FluxDataKit, not observations: set to NaN")
        ovars[name] = (v, _var_attrs(name, **extra))
        if spec["unc"] is not None and spec["unc"] in df.columns:
            u = _numeric(df, spec["unc"], path)
            if np.isfinite(u).any():
                u = np.where(np.isfinite(v), u, np.nan)
                ovars[f"{name}_unc"] = (u, _var_attrs(f"{name}_unc", source_column=spec["unc"]))
        if name in ("NEE", "LE") and qc is not None:
            ovars[f"{name}_qc"] = (qc, _var_attrs(f"{name}_qc", source_column=qcol))
        if name == "LE":
            k = SECONDS_PER_DAY / LATENT_HEAT_VAPORISATION
            conv = f"LE x 86400 / {LATENT_HEAT_VAPORISATION:g} (latent heat of vaporisation, FAO-56)"
            ovars["ET"] = (v * k, _var_attrs("ET", source_column=col, conversion=conv,
                                                qc_applied=extra.get("qc_applied")))
            if "LE_unc" in ovars:
                ovars["ET_unc"] = (ovars["LE_unc"][0] * k, _var_attrs("ET_unc", source_column=spec["unc"],
                                                                         conversion=conv))
    if not any(k in ovars for k in streams):
        raise MissingVariableError(
            path, "no observation column with data: expected one of "
            f"{[s['col'] for s in streams.values()]}" + (f"; empty: {', '.join(empty)}" if empty else "")
        )
    if unfiltered:
        msg = (f"file '{path}': QC flags absent or empty for {', '.join(unfiltered)}; these streams are not "
               f"QC-filtered (pass qc_missing='ignore' to accept silently, 'raise' to refuse)")
        if qc_missing == "raise":
            raise MissingVariableError(path, f"QC flags absent or empty for {', '.join(unfiltered)}")
        if qc_missing == "warn":
            warnings.warn(msg, DataQualityWarning, stacklevel=2)

    # forcing and observations must share at least one day
    f_ok = np.isfinite(forcing["ta"]) & np.isfinite(forcing["swrad"])
    o_ok = np.zeros(t.size, dtype=bool)
    for k in streams:
        if k in ovars:
            o_ok |= np.isfinite(ovars[k][0])
    if f_ok.any() and o_ok.any() and not (f_ok & o_ok).any():
        raise NoOverlapError(
            path, f"forcing (TA and SW_IN present) covers {_span(t, f_ok)}, observations cover {_span(t, o_ok)}: "
            f"no day in common"
        )
    if not (f_ok & o_ok).any():
        warnings.warn(
            f"file '{path}': no day has both forcing (TA, SW_IN) and an observation that passed QC (forcing days: "
            f"{int(f_ok.sum())}, observation days: {int(o_ok.sum())} of {t.size})", DataQualityWarning, stacklevel=2,
        )

    citation = CITATION_FLUXDATAKIT if product == "fluxdatakit" else CITATION_FLUXNET
    product_name = {"oneflux": "FLUXNET2015/ONEFlux daily (DD)", "fluxdatakit": "FluxDataKit daily (DD)"}[product]
    common_attrs = {"product": product_name, "source_file": path.name, "references": citation}
    f_attrs = dict(common_attrs)
    if era_path is not None:
        f_attrs["era_file"] = Path(era_path).name
        f_attrs["era_filled_days"] = ", ".join(f"{k}={v}" for k, v in n_filled.items())
    o_attrs = dict(common_attrs)
    o_attrs.update(
        qc_threshold=float(qc_threshold) if qc_threshold is not None else "none",
        qc_rule="daily _QC = fraction of measured or good-quality gap-filled half-hours; kept where QC >= qc_threshold",
        partitioning=p,
        empty_streams=", ".join(empty) if empty else None,
        unfiltered_streams=", ".join(unfiltered) if unfiltered else None,
    )
    return _assemble(fvars, t, site, meta, f_attrs), _assemble(ovars, t, site, meta, o_attrs)
