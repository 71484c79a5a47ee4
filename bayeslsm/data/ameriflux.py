"""Reader for AmeriFlux BASE half-hourly (or hourly) files, aggregated to the daily model variables,
and for the site metadata (BADM/BIF) shipped with them.

Aggregation rules (per calendar day of ``TIMESTAMP_START``, local standard time)
---------------------------------------------------------------------------------
* A variable's day is kept only when its fraction of valid records (not -9999) is at least
  ``min_coverage`` (default 0.8: 39 of 48 half-hours); otherwise that day is NaN. Records missing
  from the file count as invalid. The fraction is stored for NEE and LE as ``NEE_qc`` / ``LE_qc``
  (fraction of *measured* records, unlike the FLUXNET ``_QC``, which also counts good gap-fills).
* Means of the valid records for fluxes and meteorology: ``ta``, ``swrad``, ``vpd``, ``co2``,
  ``NEE``, ``GPP``, ``RECO``, ``LE``.
* Sum of the valid records for precipitation (missing records count as no rain once the coverage
  rule is met).
* ``tmin`` / ``tmax``: minimum / maximum of the valid half-hourly ``TA``.

Columns and units
-----------------
=========  ==================  ================================================================
name       units               from
=========  ==================  ================================================================
ta         degC                ``TA`` (or ``TA_PI``, ``TA_1_1_1``, first ``TA_<h>_<v>_<r>``)
tmin/tmax  degC                min / max of the same TA
swrad      MJ m-2 d-1          mean ``SW_IN`` [W m-2] x 0.0864
par        MJ m-2 d-1          0.5 x swrad
precip     mm d-1              sum of ``P`` [mm per record]
vpd        kPa                 mean ``VPD`` [hPa] / 10, or from ``TA`` and ``RH``:
                               ``es(TA) (1 - RH/100)``, es = 0.6108 exp(17.27 T / (T + 237.3)) kPa
                               (Allen et al. 1998, FAO-56 eq. 11)
co2        ppm                 mean ``CO2`` [umol mol-1]
NEE        gC m-2 d-1          mean ``NEE_PI`` (else ``FC``, without storage) [umol m-2 s-1]
                               x 12.011e-6 x 86400
GPP, RECO  gC m-2 d-1          mean ``GPP_PI`` / ``RECO_PI`` where present, same factor
LE         W m-2               mean ``LE``
ET         mm d-1              LE x 86400 / 2.45e6
=========  ==================  ================================================================

References
----------
AmeriFlux BASE data product format: https://ameriflux.lbl.gov/data/aboutdata/data-variables/
Allen, R. G. et al. (1998). Crop evapotranspiration. FAO Irrigation and Drainage Paper 56.
ISBN 92-5-104219-5
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import xarray as xr

from bayeslsm.data.fluxnet import (
    HPA_TO_KPA,
    LATENT_HEAT_VAPORISATION,
    PAR_FRACTION,
    SECONDS_PER_DAY,
    SW_W_M2_TO_MJ_DAY,
    DataFileError,
    DataQualityWarning,
    MissingVariableError,
    NoOverlapError,
    TimeAxisError,
    UnitsError,
    _assemble,
    _check_time_axis,
    _numeric,
    _parse_dates,
    _read_table,
    _site_metadata,
    _span,
    _subset,
    _var_attrs,
)

__all__ = ["CARBON_MOLAR_MASS", "UMOL_CO2_M2_S_TO_GC_M2_D", "read_ameriflux_base", "read_badm"]

CARBON_MOLAR_MASS = 12.011
"""Molar mass of carbon [g mol-1]."""

UMOL_CO2_M2_S_TO_GC_M2_D = CARBON_MOLAR_MASS * 1e-6 * SECONDS_PER_DAY
"""[umol CO2 m-2 s-1] -> [gC m-2 d-1] (= 1.0378)."""

_CITATION = (
    "AmeriFlux BASE (CC BY 4.0): cite the site's AmeriFlux data DOI and acknowledge the site PI team"
)

# plausibility of half-hourly raw values: (statistic, lower, upper, hint)
_PLAUSIBLE_HH: dict[str, tuple[str, float, float, str]] = {
    "TA": ("mean", -60.0, 60.0, "looks like K where degC expected"),
    "SW_IN": ("max", -1.0, 1600.0, "expected W m-2"),
    "P": ("max", -1.0, 300.0, "expected mm per record"),
    "VPD": ("max", -1.0, 150.0, "expected hPa; looks like Pa"),
    "RH": ("max", -1.0, 110.0, "expected percent"),
    "CO2": ("mean", 150.0, 2000.0, "expected umol mol-1 (ppm)"),
    "carbon": ("absmax", -1.0, 200.0, "expected umol m-2 s-1"),
    "LE": ("mean", -300.0, 800.0, "expected W m-2"),
}

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _check(values: np.ndarray, kind: str, path: Path, column: str) -> None:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return
    stat, lo, hi, hint = _PLAUSIBLE_HH[kind]
    x = {"mean": v.mean(), "max": v.max(), "absmax": np.abs(v).max()}[stat]
    if not lo <= x <= hi:
        raise UnitsError(path, f"implausible values: {stat} = {x:.4g} outside [{lo:g}, {hi:g}]; {hint}", column=column)


def _check_daily(values: np.ndarray, name: str, path: Path, column: str, scale: float = 1.0,
                 units: str | None = None) -> None:
    """Daily aggregates (registry units) against the registry's plausible ranges
    (:data:`bayeslsm.data.variables.PLAUSIBLE`); ``scale`` converts the file's units, named in the message."""
    from bayeslsm.data.plausibility import implausible

    problem = implausible(values, name, scale=scale, file_units=units)
    if problem is not None:
        day = "" if problem.index is None else f" (day {problem.index + 1} of the record)"
        raise UnitsError(path, f"daily values: {problem.message}{day}", column=column)


def _xlsx_rows(data: bytes) -> list[list[str]]:
    """Rows of the first worksheet of an .xlsx (text values; stdlib only)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
            for si in root.findall("m:si", _NS):
                shared.append("".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")))
        sheet = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))[0]
        root = ElementTree.fromstring(z.read(sheet))
    rows: list[list[str]] = []
    for row in root.iter(f"{{{_NS['m']}}}row"):
        cells: dict[int, str] = {}
        for c in row.findall("m:c", _NS):
            ref = re.match(r"([A-Z]+)", c.get("r", "A"))
            col = 0
            for ch in ref.group(1):
                col = col * 26 + ord(ch) - 64
            kind = c.get("t")
            v = c.find("m:v", _NS)
            if kind == "s" and v is not None:
                text = shared[int(v.text)]
            elif kind == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{{{_NS['m']}}}t"))
            else:
                text = v.text if v is not None and v.text is not None else ""
            cells[col - 1] = text
        if cells:
            rows.append([cells.get(i, "") for i in range(max(cells) + 1)])
    return rows


def read_badm(path: str | Path) -> dict[str, str]:
    """Site metadata from an AmeriFlux BADM/BIF spreadsheet.

    Parameters
    ----------
    path
        ``AMF_<site>_BIF_<date>.xlsx``, or an ``AMF_<site>_BASE-BADM_<version>.zip`` that contains one.

    Returns
    -------
    dict
        ``VARIABLE -> DATAVALUE`` for the first occurrence of each variable (e.g. ``LOCATION_LAT``,
        ``LOCATION_LONG``, ``LOCATION_ELEV``, ``IGBP``, ``SITE_NAME``), plus ``SITE_ID``.

    Raises
    ------
    DataFileError
        No BIF spreadsheet in the zip, or not the BIF layout (SITE_ID, GROUP_ID, VARIABLE_GROUP,
        VARIABLE, DATAVALUE).

    Examples
    --------
    >>> meta = read_badm("AMF_US-CRT_BASE-BADM_2-5.zip")  # doctest: +SKIP
    >>> meta["IGBP"], float(meta["LOCATION_LAT"])  # doctest: +SKIP
    ('CRO', 41.628495)
    """
    path = Path(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if n.lower().endswith(".xlsx")]
            if not members:
                raise DataFileError(path, f"no BADM/BIF .xlsx spreadsheet in the zip; found {z.namelist()}")
            data = z.read(members[0])
    else:
        data = path.read_bytes()
    try:
        rows = _xlsx_rows(data)
    except (zipfile.BadZipFile, ElementTree.ParseError, IndexError, KeyError) as err:
        raise DataFileError(path, f"cannot read the BADM spreadsheet ({err})") from None
    header = ["SITE_ID", "GROUP_ID", "VARIABLE_GROUP", "VARIABLE", "DATAVALUE"]
    if not rows or [h.strip().upper() for h in rows[0][:5]] != header:
        raise DataFileError(path, f"expected BIF columns {', '.join(header)}; found {rows[0][:5] if rows else []}")
    out: dict[str, str] = {}
    for r in rows[1:]:
        r = r + [""] * (5 - len(r))
        if r[0] and "SITE_ID" not in out:
            out["SITE_ID"] = r[0]
        if r[3] and r[3] not in out:
            out[r[3]] = r[4]
    return out


def _badm_meta(badm: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, name in (("LOCATION_LAT", "lat"), ("LOCATION_LONG", "lon"), ("LOCATION_ELEV", "elev")):
        try:
            meta[name] = float(badm[key])
        except (KeyError, ValueError):
            pass
    if badm.get("IGBP"):
        meta["igbp"] = badm["IGBP"]
    if badm.get("SITE_NAME"):
        meta["site_name"] = badm["SITE_NAME"]
    if meta:
        meta["metadata_source"] = "AmeriFlux BADM (BIF)"
    return meta


def _column(df: pd.DataFrame, base: str) -> str | None:
    """``base``, ``base_PI``, ``base_1_1_1`` or the first ``base_<h>_<v>_<r>`` column."""
    for c in (base, f"{base}_PI", f"{base}_1_1_1"):
        if c in df.columns:
            return c
    pos = sorted(c for c in df.columns if re.fullmatch(rf"{re.escape(base)}_\d+_\d+_\d+", c))
    return pos[0] if pos else None


def _header_site(path: Path, lines: list[str]) -> str | None:
    for line in lines:
        m = re.match(r"#\s*Site:\s*([A-Z]{2}-[A-Za-z0-9]{3})", line)
        if m:
            return m.group(1)
    m = re.search(r"AMF_([A-Z]{2}-[A-Za-z0-9]{3})_", path.name)
    return m.group(1) if m else None


def read_ameriflux_base(
    path: str | Path,
    *,
    site: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    igbp: str | None = None,
    pft: str | None = None,
    badm_path: str | Path | None = None,
    min_coverage: float = 0.8,
    start=None,
    end=None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Read an AmeriFlux BASE half-hourly (or hourly) CSV and aggregate it to daily model variables.

    Aggregation rules, column mapping and unit conversions are in the module docstring.

    Parameters
    ----------
    path
        ``AMF_<site>_BASE_HH_<version>.csv`` (``#`` header lines, ``TIMESTAMP_START``/``TIMESTAMP_END``
        as YYYYMMDDHHMM, -9999 fill), or the ``AMF_<site>_BASE-BADM_<version>.zip`` holding it (its BIF
        spreadsheet then supplies the site metadata).
    site
        Site id; default: the ``# Site:`` header line, else the file name.
    lat, lon, igbp, pft
        Site metadata; override the BADM file, which overrides :data:`bayeslsm.data.sites.SITES`.
    badm_path
        BADM/BIF ``.xlsx`` or BASE-BADM ``.zip`` with the site metadata (:func:`read_badm`).
    min_coverage
        Minimum fraction of valid records in a day [0-1] for the day's value to be kept.
    start, end
        First and last day to keep (inclusive).

    Returns
    -------
    forcing : xarray.Dataset
        ``ta, tmin, tmax, swrad, par, co2, precip, vpd, doy`` (daily, model units).
    obs : xarray.Dataset
        ``NEE`` (and ``GPP``, ``RECO`` where the file has PI partitioning), ``LE``, ``ET``,
        ``NEE_qc``, ``LE_qc`` (daily coverage fractions).

    Raises
    ------
    MissingVariableError
        No ``TIMESTAMP_START``/``TIMESTAMP_END``, or no TA, SW_IN, P, CO2, VPD (or RH), or no
        NEE_PI/FC/LE.
    TimestampError, TimeAxisError
        Unparseable, duplicated or non-increasing timestamps; a record length (END - START) that
        varies or does not divide a day; records off the step grid.
    UnitsError
        Implausible half-hourly values (e.g. mean TA > 60: Kelvin).
    EmptyFileError
        No data rows.
    NoOverlapError
        No day with both forcing (TA, SW_IN) and observations after the coverage rule.

    Examples
    --------
    >>> forcing, obs = read_ameriflux_base("AMF_US-CRT_BASE_HH_2-5.csv")  # doctest: +SKIP
    >>> forcing.sizes["time"]  # doctest: +SKIP
    2
    """
    path = Path(path)
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"`min_coverage` must be a fraction in (0, 1]; got {min_coverage!r}")
    file_meta: dict[str, Any] = {}
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if re.search(r"_BASE_(HH|HR)_.*\.csv$", n)]
            if not members:
                raise DataFileError(path, f"no AmeriFlux BASE _HH_/_HR_ CSV in the zip; found {z.namelist()}")
            with z.open(members[0]) as fh:
                head = [fh.readline().decode("utf-8", "replace") for _ in range(3)]
            with z.open(members[0]) as fh:
                df = _read_table(path, timestamp_columns=("TIMESTAMP_START", "TIMESTAMP_END"), comment="#", handle=fh)
            has_xlsx = any(n.lower().endswith(".xlsx") for n in z.namelist())
        if has_xlsx and badm_path is None:
            file_meta = _badm_meta(read_badm(path))
        source = f"{path.name}:{members[0]}"
    else:
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = [fh.readline() for _ in range(3)]
        else:
            head = []
        df = _read_table(path, timestamp_columns=("TIMESTAMP_START", "TIMESTAMP_END"), comment="#")
        source = path.name
    if badm_path is not None:
        file_meta = _badm_meta(read_badm(badm_path))

    for col in ("TIMESTAMP_START", "TIMESTAMP_END"):
        if col not in df.columns:
            raise MissingVariableError(
                path, f"missing required column {col!r} (AmeriFlux BASE format); found columns {list(df.columns[:8])}"
            )
    t0 = _parse_dates(df["TIMESTAMP_START"], path, "TIMESTAMP_START", ("%Y%m%d%H%M",))
    t1 = _parse_dates(df["TIMESTAMP_END"], path, "TIMESTAMP_END", ("%Y%m%d%H%M",))
    _check_time_axis(t0, path, "TIMESTAMP_START", None)
    length = np.unique((t1 - t0).values)
    zero = np.timedelta64(0, "m")
    if length.size != 1 or length[0] <= zero or np.timedelta64(1, "D") % length[0] != zero:
        found = ", ".join(str(pd.Timedelta(x)) for x in length[:4])
        raise TimeAxisError(
            path, f"record length TIMESTAMP_END - TIMESTAMP_START must be one constant that divides a day "
            f"(30 min for HH, 60 min for HR); found {found}", column="TIMESTAMP_END",
        )
    step = pd.Timedelta(length[0])
    off = (t0 - t0[0]).values % step.to_timedelta64()
    if np.any(off != np.timedelta64(0)):
        i = int(np.flatnonzero(off != np.timedelta64(0))[0])
        raise TimeAxisError(
            path, f"record at {t0[i]} (data row {i + 1}) is off the {step} grid", column="TIMESTAMP_START"
        )
    per_day = int(pd.Timedelta(days=1) / step)

    date = t0.normalize()
    days = pd.date_range(date[0], date[-1], freq="D").as_unit("ns")

    def daily(values: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
        s = pd.Series(values).groupby(date.values)
        cover = s.count().reindex(days, fill_value=0).to_numpy() / per_day
        agg = getattr(s, how)().reindex(days).to_numpy(dtype=float)
        return np.where(cover >= min_coverage, agg, np.nan), cover

    def need(base: str, alternatives: str = "") -> str:
        col = _column(df, base)
        if col is None:
            raise MissingVariableError(
                path, f"missing required variable {base!r}{alternatives}: expected a column {base}, {base}_PI or "
                f"{base}_<H>_<V>_<R>; found columns {list(df.columns[:12])}"
            )
        return col

    fvals: dict[str, np.ndarray] = {}
    fattrs: dict[str, dict[str, Any]] = {}
    ta_col = need("TA")
    ta = _numeric(df, ta_col, path)
    _check(ta, "TA", path, ta_col)
    fvals["ta"], ta_cover = daily(ta, "mean")
    fvals["tmin"], _ = daily(ta, "min")
    fvals["tmax"], _ = daily(ta, "max")
    fattrs["ta"] = {"source_column": ta_col, "aggregation": "mean of valid records"}
    fattrs["tmin"] = {"source_column": ta_col, "aggregation": "minimum of valid records"}
    fattrs["tmax"] = {"source_column": ta_col, "aggregation": "maximum of valid records"}

    sw_col = need("SW_IN")
    sw = _numeric(df, sw_col, path)
    _check(sw, "SW_IN", path, sw_col)
    mean_sw, _ = daily(sw, "mean")
    fvals["swrad"] = mean_sw * SW_W_M2_TO_MJ_DAY
    _check_daily(fvals["swrad"], "swrad", path, sw_col, SW_W_M2_TO_MJ_DAY, "W m-2")
    fattrs["swrad"] = {"source_column": sw_col, "aggregation": "mean of valid records",
                       "conversion": "[W m-2] x 0.0864"}
    fvals["par"] = fvals["swrad"] * PAR_FRACTION
    fattrs["par"] = {"source_column": sw_col, "conversion": "0.5 x swrad"}

    co2_col = need("CO2")
    co2 = _numeric(df, co2_col, path)
    _check(co2, "CO2", path, co2_col)
    fvals["co2"], _ = daily(co2, "mean")
    _check_daily(fvals["co2"], "co2", path, co2_col)
    fattrs["co2"] = {"source_column": co2_col, "aggregation": "mean of valid records"}

    p_col = need("P")
    p = _numeric(df, p_col, path)
    _check(p, "P", path, p_col)
    fvals["precip"], _ = daily(p, "sum")
    _check_daily(fvals["precip"], "precip", path, p_col, 1.0, "mm d-1 (daily sum)")
    fattrs["precip"] = {"source_column": p_col, "aggregation": "sum of valid records"}

    vpd_col = _column(df, "VPD")
    if vpd_col is not None:
        vpd = _numeric(df, vpd_col, path)
        _check(vpd, "VPD", path, vpd_col)
        vpd_kpa = vpd * HPA_TO_KPA
        fattrs["vpd"] = {"source_column": vpd_col, "aggregation": "mean of valid records", "conversion": "[hPa] / 10"}
    else:
        rh_col = need("RH", " (or 'VPD')")
        rh = _numeric(df, rh_col, path)
        _check(rh, "RH", path, rh_col)
        es = 0.6108 * np.exp(17.27 * ta / (ta + 237.3))
        vpd_kpa = es * (1.0 - np.clip(rh, 0.0, 100.0) / 100.0)
        fattrs["vpd"] = {"source_column": f"{ta_col}, {rh_col}", "aggregation": "mean of valid records",
                         "conversion": "es(TA) (1 - RH/100), es = 0.6108 exp(17.27 T / (T + 237.3)) [kPa] "
                                       "(FAO-56 eq. 11); RH clipped to [0, 100]"}
    fvals["vpd"], _ = daily(vpd_kpa, "mean")
    if vpd_col is not None:
        _check_daily(fvals["vpd"], "vpd", path, vpd_col, HPA_TO_KPA, "hPa")
    fvals["doy"] = days.day_of_year.to_numpy().astype(float)
    fattrs["doy"] = {}

    # observations
    ovals: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    conv_c = f"[umol m-2 s-1] x {CARBON_MOLAR_MASS} x 1e-6 x 86400"
    nee_col = next((c for c in ("NEE_PI", "NEE_PI_F", "FC") if c in df.columns), None) or _column(df, "FC")
    for name, col in (("NEE", nee_col), ("GPP", _column(df, "GPP")), ("RECO", _column(df, "RECO"))):
        if col is None:
            continue
        v = _numeric(df, col, path)
        _check(v, "carbon", path, col)
        mean, cover = daily(v, "mean")
        extra = {"source_column": col, "aggregation": "mean of valid records", "conversion": conv_c,
                 "min_coverage": float(min_coverage)}
        if name == "NEE" and col.startswith("FC"):
            extra["caveat"] = "FC is the turbulent flux only (storage term SC not added)"
        ovals[name] = (mean * UMOL_CO2_M2_S_TO_GC_M2_D, _var_attrs(name, **extra))
        if name == "NEE":
            ovals["NEE_qc"] = (cover, _var_attrs("NEE_qc", source_column=col,
                                                 long_name="fraction of valid (measured) records of NEE in the day"))
    le_col = _column(df, "LE")
    if le_col is not None:
        le = _numeric(df, le_col, path)
        _check(le, "LE", path, le_col)
        mean, cover = daily(le, "mean")
        _check_daily(mean, "LE", path, le_col, 1.0, "W m-2")
        ovals["LE"] = (mean, _var_attrs("LE", source_column=le_col, aggregation="mean of valid records",
                                        min_coverage=float(min_coverage)))
        ovals["LE_qc"] = (cover, _var_attrs("LE_qc", source_column=le_col,
                                            long_name="fraction of valid (measured) records of LE in the day"))
        ovals["ET"] = (mean * SECONDS_PER_DAY / LATENT_HEAT_VAPORISATION,
                       _var_attrs("ET", source_column=le_col, conversion="LE x 86400 / 2.45e6"))
    if not any(k in ovals for k in ("NEE", "GPP", "RECO", "LE")):
        raise MissingVariableError(path, "no observation column: expected NEE_PI, FC, GPP_PI, RECO_PI or LE")

    # subset to [start, end] on the daily axis
    frame = pd.DataFrame({"i": np.arange(days.size)})
    frame, kept_days = _subset(frame, days, start, end, path)
    idx = frame["i"].to_numpy()
    days = kept_days
    f_ok = np.isfinite(fvals["ta"][idx]) & np.isfinite(fvals["swrad"][idx])
    o_ok = np.zeros(idx.size, dtype=bool)
    for k in ("NEE", "GPP", "RECO", "LE"):
        if k in ovals:
            o_ok |= np.isfinite(ovals[k][0][idx])
    if f_ok.any() and o_ok.any() and not (f_ok & o_ok).any():
        raise NoOverlapError(
            path, f"forcing (TA, SW_IN) and observations (NEE/GPP/RECO/LE) share no day: forcing covers "
            f"{_span(days, f_ok)}, observations cover {_span(days, o_ok)} (min_coverage={min_coverage})"
        )
    if not (f_ok & o_ok).any():
        warnings.warn(
            f"file '{path}': no day has both forcing (TA, SW_IN) and an observation (NEE/GPP/RECO/LE) with at least "
            f"min_coverage={min_coverage} of valid records (forcing days: {int(f_ok.sum())}, observation days: "
            f"{int(o_ok.sum())} of {idx.size})", DataQualityWarning, stacklevel=2,
        )

    site = site or _header_site(path, head)
    meta = _site_metadata(site, lat, lon, igbp, pft, file_meta)
    order = ("ta", "tmin", "tmax", "swrad", "par", "co2", "precip", "vpd", "doy")
    fvars = {}
    for k in order:
        extra = dict(fattrs[k])
        if k != "doy":
            extra["min_coverage"] = float(min_coverage)
            extra["n_missing"] = int((~np.isfinite(fvals[k][idx])).sum())
        fvars[k] = (fvals[k][idx], _var_attrs(k, **extra))
    ovars = {k: (v[idx], a) for k, (v, a) in ovals.items()}
    resolution = "half-hourly" if per_day == 48 else f"{per_day} records per day"
    common = {
        "product": f"AmeriFlux BASE ({resolution}) aggregated to daily",
        "source_file": source,
        "references": _CITATION,
        "aggregation": "day of TIMESTAMP_START (local standard time); value kept where the fraction of valid "
                       f"records >= min_coverage={min_coverage}; means (fluxes, met), sum (P), min/max (TA)",
        "records_per_day": per_day,
    }
    return _assemble(fvars, days, site, meta, dict(common)), _assemble(ovars, days, site, meta, dict(common))
