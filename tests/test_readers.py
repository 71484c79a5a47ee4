"""Data-layer readers: real FLUXNET/FluxDataKit/AmeriFlux files from ../shared/data, synthetic files for the
aggregation rules and for every named error, the site table and the dataset cache (never the network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pooch
import pytest

from bayeslsm.data import cache
from bayeslsm.data.ameriflux import UMOL_CO2_M2_S_TO_GC_M2_D, read_ameriflux_base, read_badm
from bayeslsm.data.fluxnet import (
    MODIS_LAI_START,
    TMINMAX_SD_FACTOR,
    VARIABLE_ATTRS,
    DataFileError,
    DataQualityWarning,
    EmptyFileError,
    MissingVariableError,
    NoOverlapError,
    TimeAxisError,
    TimestampError,
    UnitsError,
    detect_product,
    read_era_drivers,
    read_fluxnet,
    tminmax_from_day_night,
)
from bayeslsm.data.sites import SITES, igbp_to_pft, site_info

FIKEN = "icos_ww2020/FLX_FI-Ken_FLUXNET2015_FULLSET_DD_2018-2020_beta-3.csv"
FIKEN_ERA = "icos_ww2020/FLX_FI-Ken_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv"
FRTOU = "icos_ww2020/FLX_FR-Tou_FLUXNET2015_FULLSET_DD_2018-2020_beta-3.csv"
FRPUE = "fluxdatakit/FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv"
DEHAI = "fluxdatakit_26sites/FLX_DE-Hai_PLUMBER_FULLSET_DD_2019_2020_2-3.csv"
USCRT = "ameriflux_base_example/AMF_US-CRT_BASE_HH_2-5.csv"
USCRT_ZIP = "ameriflux_base_example/AMF_US-CRT_BASE-BADM_2-5.zip"

FORCING_VARS = {"ta", "tmin", "tmax", "swrad", "par", "co2", "precip", "vpd", "doy"}


def _raw(path: Path) -> pd.DataFrame:
    """The file as pandas reads it, with both fill conventions as NaN (the test's own reference)."""
    df = pd.read_csv(path, na_values=["NA"], dtype={"TIMESTAMP": str})
    return df.mask(df.select_dtypes("number") == -9999)


def _assert_cf(ds) -> None:
    for name in list(ds.data_vars) + ["lat", "lon"]:
        if name in ds.variables:
            assert ds[name].attrs.get("units"), f"{name} has no units"
            assert ds[name].attrs.get("long_name"), f"{name} has no long_name"
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    assert (np.diff(ds["time"].values) == np.timedelta64(1, "D")).all()


# ---------------------------------------------------------------------------------------------------------------
# real files


@pytest.fixture(scope="module")
def fiken(data_dir):
    with pytest.warns(DataQualityWarning, match="LE_F_MDS_QC"):
        return read_fluxnet(data_dir / FIKEN)


def test_oneflux_units_attrs_and_conversions(data_dir, fiken):
    forcing, obs = fiken
    raw = _raw(data_dir / FIKEN)
    assert set(forcing.data_vars) == FORCING_VARS
    assert {"NEE", "NEE_unc", "NEE_qc", "GPP", "RECO", "LE", "LE_unc", "ET"} <= set(obs.data_vars)
    _assert_cf(forcing)
    _assert_cf(obs)
    for name in forcing.data_vars:
        assert forcing[name].attrs["units"] == VARIABLE_ATTRS[name]["units"]
    assert forcing.swrad.attrs["units"] == "MJ m-2 d-1" and forcing.vpd.attrs["units"] == "kPa"
    assert obs.NEE.attrs["units"] == "gC m-2 d-1" and obs.ET.attrs["units"] == "mm d-1"
    # site metadata as scalar coordinates and attributes (table: FI-Ken ENF 67.98721N)
    assert forcing.site.item() == "FI-Ken" and obs.attrs["pft"] == "ENF"
    assert forcing.lat.item() == pytest.approx(67.98721) and forcing.attrs["igbp"] == "ENF"
    # conversions, exactly as documented
    np.testing.assert_allclose(forcing.swrad.values, raw["SW_IN_F"].to_numpy() * 0.0864)
    np.testing.assert_allclose(forcing.par.values, 0.5 * forcing.swrad.values)
    np.testing.assert_allclose(forcing.vpd.values, raw["VPD_F"].to_numpy() / 10.0)
    np.testing.assert_allclose(forcing.ta.values, raw["TA_F"].to_numpy())
    np.testing.assert_allclose(obs.ET.values, obs.LE.values * 86400.0 / 2.45e6)
    np.testing.assert_array_equal(forcing.doy.values, forcing.time.dt.dayofyear.values)
    # -9999 became NaN: P_F is missing for all of 2020 (366 days) and nothing below -9000 survives
    assert int(forcing.precip.isnull().sum()) == int(raw["P_F"].isna().sum()) == 366
    for ds in (forcing, obs):
        for name in ds.data_vars:
            assert not (ds[name].values < -9000).any(), name


def test_oneflux_tmin_tmax_rule(data_dir, fiken):
    forcing, _ = fiken
    raw = _raw(data_dir / FIKEN)
    assert (forcing.tmin <= forcing.ta).all() and (forcing.ta <= forcing.tmax).all()
    assert "half-sine" in forcing.tmin.attrs["derivation"]
    c = TMINMAX_SD_FACTOR
    day = (raw["TA_F_DAY"] + c * raw["TA_F_DAY_SD"]).to_numpy()
    ok = np.isfinite(day) & (day >= raw["TA_F"].to_numpy())
    np.testing.assert_allclose(forcing.tmax.values[ok], day[ok])
    # polar night (no daytime half-hours) falls back on the night-time statistics
    polar = raw["TA_F_DAY"].isna().to_numpy()
    assert polar.sum() > 30
    assert np.isfinite(forcing.tmax.values[polar]).all()


def test_tminmax_rule_values():
    # half a sine of amplitude A: mean = 2A/pi, sd = A sqrt(1/2 - 4/pi^2) -> mean + c sd = A
    a = 5.0
    mean, sd = 2 * a / np.pi, a * np.sqrt(0.5 - 4 / np.pi**2)
    tmin, tmax = tminmax_from_day_night(np.array([0.0]), np.array([mean]), np.array([sd]),
                                        np.array([-mean]), np.array([sd]))
    np.testing.assert_allclose([tmin[0], tmax[0]], [-a, a], rtol=1e-12)
    # no day (polar night) / no night (midnight sun) / neither
    tmin, tmax = tminmax_from_day_night(np.array([-1.0, 2.0, 0.0]), np.array([np.nan, 2.0, np.nan]),
                                        np.array([np.nan, 1.0, np.nan]), np.array([-1.0, np.nan, np.nan]),
                                        np.array([1.0, np.nan, np.nan]))
    np.testing.assert_allclose(tmin[:2], [-1 - TMINMAX_SD_FACTOR, 2 - TMINMAX_SD_FACTOR])
    np.testing.assert_allclose(tmax[:2], [-1 + TMINMAX_SD_FACTOR, 2 + TMINMAX_SD_FACTOR])
    assert tmin[2] == 0.0 and tmax[2] == 0.0  # clamped to ta, nothing else known


def test_oneflux_qc_filtering(data_dir, fiken):
    _, obs = fiken
    qc = _raw(data_dir / FIKEN)["NEE_VUT_REF_QC"].to_numpy()
    bad = ~(qc >= 0.75)
    assert 100 < bad.sum() < 300  # PROVENANCE: 83 % of FI-Ken days pass 0.75
    assert int(obs.NEE.isnull().sum()) == int(bad.sum())
    assert obs.NEE.attrs["n_rejected_by_qc"] == int(bad.sum())
    assert obs.NEE_unc.isnull().values[bad].all() and obs.GPP.isnull().values[bad].all()
    # LE_F_MDS_QC is all -9999 at FI-Ken: LE is kept unfiltered and says so
    assert obs.LE.attrs["qc_applied"].startswith("no") and int(obs.LE.isnull().sum()) == 0
    _, loose = read_fluxnet(data_dir / FIKEN, qc_threshold=None, qc_missing="ignore")
    _, strict = read_fluxnet(data_dir / FIKEN, qc_threshold=0.95, qc_missing="ignore")
    assert int(loose.NEE.isnull().sum()) == 0 < int(obs.NEE.isnull().sum()) < int(strict.NEE.isnull().sum())
    with pytest.raises(MissingVariableError, match="LE_F_MDS_QC"):
        read_fluxnet(data_dir / FIKEN, qc_missing="raise")


def test_oneflux_le_qc_applied_where_present(data_dir):
    _, obs = read_fluxnet(data_dir / FRTOU)
    qc = _raw(data_dir / FRTOU)["LE_F_MDS_QC"].to_numpy()
    assert obs.LE.attrs["qc_applied"] == "yes"
    assert int(obs.LE.isnull().sum()) == int((~(qc >= 0.75)).sum())  # a day without QC is rejected too
    np.testing.assert_array_equal(obs.LE_qc.values, qc)


def _blank_p_f(src: Path, dst: Path, rows: range) -> None:
    lines = src.read_text().splitlines(keepends=True)
    col = lines[0].rstrip("\n").split(",").index("P_F")
    for r in rows:
        fields = lines[r + 1].rstrip("\n").split(",")
        fields[col] = "-9999"
        lines[r + 1] = ",".join(fields) + "\n"
    dst.write_text("".join(lines))


def test_era_gap_filling(data_dir, tmp_path):
    era_file = data_dir / FIKEN_ERA
    # FI-Ken P_F is empty for all of 2020, and so is the ERA file (it ends 2019-12-31): nothing to fill there
    with pytest.warns(DataQualityWarning):
        forcing, _ = read_fluxnet(data_dir / FIKEN, era_path=era_file)
    assert forcing.precip.attrs["n_filled_from_era"] == 0
    assert int(forcing.precip.sel(time="2020").isnull().sum()) == 366
    assert "precip=0" in forcing.attrs["era_filled_days"]
    # gaps inside the ERA record are filled, from P_ERA, to zero NaN
    gappy = tmp_path / Path(FIKEN).name
    _blank_p_f(data_dir / FIKEN, gappy, range(100, 250))
    with pytest.warns(DataQualityWarning):
        before, _ = read_fluxnet(gappy, end="2019-12-31")
        after, _ = read_fluxnet(gappy, era_path=era_file, end="2019-12-31")
    assert int(before.precip.isnull().sum()) == 150
    assert int(after.precip.isnull().sum()) == 0
    assert after.precip.attrs["n_filled_from_era"] == 150
    era = read_era_drivers(era_file, start="2018-01-01", end="2019-12-31")
    np.testing.assert_allclose(after.precip.values[100:250], era.precip.values[100:250])
    np.testing.assert_allclose(np.delete(after.precip.values, range(100, 250)),
                               np.delete(before.precip.values, range(100, 250)))


def test_era_reader(data_dir):
    era = read_era_drivers(data_dir / "icos_ww2020/FLX_FI-Qvd_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv")
    assert set(era.data_vars) == FORCING_VARS - {"co2"}
    assert era.sizes["time"] == 11688 and era.attrs["site"] == "FI-Qvd"
    _assert_cf(era)
    assert (era.tmin <= era.ta).all() and (era.ta <= era.tmax).all()
    with pytest.raises(DataFileError, match="ERA-Interim driver file"):
        read_fluxnet(data_dir / FIKEN_ERA)


def test_fluxdatakit_fr_pue(data_dir):
    with pytest.warns(DataQualityWarning, match="no\\s+diurnal temperature range"):
        forcing, obs = read_fluxnet(data_dir / FRPUE)
    raw = _raw(data_dir / FRPUE)
    assert forcing.attrs["product"].startswith("FluxDataKit") and forcing.attrs["pft"] == "EBF"
    _assert_cf(forcing)
    _assert_cf(obs)
    assert {"NEE", "GPP", "RECO", "LE", "ET", "LAI", "FPAR"} <= set(obs.data_vars)
    assert "NEE_unc" not in obs  # no RANDUNC in this product
    np.testing.assert_allclose(forcing.swrad.values, raw["SW_IN_F_MDS"].to_numpy() * 0.0864)
    np.testing.assert_allclose(forcing.vpd.values, raw["VPD_F_MDS"].to_numpy() / 10.0)
    # "NA" -> NaN: LE_CORR has NA in 23 % of rows
    with pytest.warns(DataQualityWarning, match="diurnal"):
        _, corr = read_fluxnet(data_dir / FRPUE, le_column="LE_CORR", qc_threshold=None)
    assert int(corr.LE.isnull().sum()) == int(raw["LE_CORR"].isna().sum()) > 1000
    # MODIS LAI before MCD15A2H (2002-07-04) is a filled-in climatology: masked
    early = obs.time.values < MODIS_LAI_START
    assert obs.LAI.isnull().values[early].all() and not obs.LAI.isnull().values[~early].any()
    assert obs.LAI.attrs["n_masked_before_modis"] == int(early.sum())


def test_fluxdatakit_26_sites_file(data_dir):
    with pytest.warns(DataQualityWarning, match="not QC-filtered"):
        forcing, obs = read_fluxnet(data_dir / DEHAI)
    assert {"GPP", "LE", "ET", "LAI"} <= set(obs.data_vars)
    assert "NEE" not in obs and "RECO" not in obs
    assert "NEE (NEE_VUT_REF)" in obs.attrs["empty_streams"]
    assert forcing.attrs["pft"] == "DBF" and forcing.sizes["time"] == 723
    assert not forcing[["ta", "tmin", "tmax", "swrad", "precip", "vpd", "co2"]].to_array().isnull().any()


def test_ameriflux_real_file(data_dir):
    with pytest.warns(DataQualityWarning, match="min_coverage=0.8"):
        forcing, obs = read_ameriflux_base(data_dir / USCRT)
    assert forcing.sizes["time"] == 2 and obs.NEE.isnull().all()  # fluxes cover < 80 % of each day
    _assert_cf(forcing)
    _assert_cf(obs)
    raw = pd.read_csv(data_dir / USCRT, comment="#", na_values=[-9999])
    day1 = raw[raw.TIMESTAMP_START < 201101020000]
    np.testing.assert_allclose(forcing.tmin.values[0], day1.TA.min())
    np.testing.assert_allclose(forcing.tmax.values[0], day1.TA.max())
    np.testing.assert_allclose(forcing.precip.values[0], day1.P.sum())
    _, obs = read_ameriflux_base(data_dir / USCRT, min_coverage=0.5)
    day2 = raw[raw.TIMESTAMP_START >= 201101020000]
    np.testing.assert_allclose(obs.NEE.values[1], day2.NEE_PI.mean() * 12.011e-6 * 86400)
    assert obs.NEE.attrs["source_column"] == "NEE_PI"
    # zip: the BIF spreadsheet supplies the site metadata
    with pytest.warns(DataQualityWarning):
        forcing, _ = read_ameriflux_base(data_dir / USCRT_ZIP)
    assert forcing.attrs["metadata_source"] == "AmeriFlux BADM (BIF)"
    assert forcing.lat.item() == pytest.approx(41.628495) and forcing.attrs["pft"] == "CRO"
    badm = read_badm(data_dir / USCRT_ZIP)
    assert badm["SITE_ID"] == "US-CRT" and badm["IGBP"] == "CRO" and badm["LOCATION_LONG"] == "-83.347086"


def test_detect_product(data_dir):
    assert detect_product(data_dir / FIKEN) == "oneflux"
    assert detect_product(data_dir / FIKEN_ERA) == "era"
    assert detect_product(data_dir / FRPUE) == "fluxdatakit"
    assert detect_product(data_dir / DEHAI) == "fluxdatakit"
    with pytest.raises(TimeAxisError, match="read_ameriflux_base"):
        read_fluxnet(data_dir / USCRT)


def test_registry_hashes_match_shared_data(data_dir):
    for entry in cache.REGISTRY.values():
        path = data_dir / entry.folder / entry.name
        assert path.is_file(), entry.name
        assert cache.sha256(path) == entry.sha256, entry.name


# ---------------------------------------------------------------------------------------------------------------
# synthetic daily files: conversions and every named error

SYN = "FLX_XX-Syn_FLUXNET2015_FULLSET_DD_2001-2001_beta-3.csv"


def _daily_frame(n: int = 20) -> pd.DataFrame:
    t = pd.date_range("2001-01-01", periods=n, freq="D")
    k = np.arange(n, dtype=float)
    return pd.DataFrame({
        "TIMESTAMP": t.strftime("%Y%m%d"),
        "TA_F": 10.0 + 0.1 * k,
        "TA_F_DAY": 13.0 + 0.1 * k, "TA_F_DAY_SD": np.full(n, 2.0),
        "TA_F_NIGHT": 7.0 + 0.1 * k, "TA_F_NIGHT_SD": np.full(n, 1.0),
        "SW_IN_F": 100.0 + k,
        "VPD_F": np.full(n, 8.0),
        "P_F": np.where(k % 3 == 0, 2.5, 0.0),
        "CO2_F_MDS": np.full(n, 400.0),
        "NEE_VUT_REF": -1.0 + 0.05 * k,
        "NEE_VUT_REF_QC": np.where(k % 4 == 0, 0.5, 1.0),
        "NEE_VUT_REF_RANDUNC": np.full(n, 0.2),
        "GPP_NT_VUT_REF": np.full(n, 5.0),
        "RECO_NT_VUT_REF": np.full(n, 4.0),
        "LE_F_MDS": np.full(n, 49.0),
        "LE_F_MDS_QC": np.ones(n),
        "LE_RANDUNC": np.full(n, 4.9),
    })


def _write(df: pd.DataFrame, tmp_path: Path, name: str = SYN) -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_synthetic_daily_conversions(tmp_path):
    df = _daily_frame()
    df.loc[3, "P_F"] = -9999
    forcing, obs = read_fluxnet(_write(df, tmp_path), lat=45.0, igbp="DBF")
    np.testing.assert_allclose(forcing.swrad.values, (100.0 + np.arange(20)) * 0.0864)
    np.testing.assert_allclose(forcing.vpd.values, 0.8)
    assert np.isnan(forcing.precip.values[3]) and forcing.precip.attrs["n_missing"] == 1
    np.testing.assert_allclose(forcing.tmax.values, 13.0 + 0.1 * np.arange(20) + 2.0 * TMINMAX_SD_FACTOR)
    np.testing.assert_allclose(forcing.tmin.values, 7.0 + 0.1 * np.arange(20) - 1.0 * TMINMAX_SD_FACTOR)
    np.testing.assert_allclose(obs.ET.values, 49.0 * 86400 / 2.45e6)
    np.testing.assert_allclose(obs.ET_unc.values, 4.9 * 86400 / 2.45e6)
    rejected = np.arange(20) % 4 == 0
    assert np.isnan(obs.NEE.values[rejected]).all() and np.isfinite(obs.NEE.values[~rejected]).all()
    assert np.isnan(obs.NEE_unc.values[rejected]).all()
    # arguments give the metadata of a site the table does not know
    assert forcing.attrs["site"] == "XX-Syn" and forcing.lat.item() == 45.0 and forcing.attrs["pft"] == "DBF"
    assert "lon" not in forcing.coords
    # subsetting
    f2, _ = read_fluxnet(_write(df, tmp_path), start="2001-01-05", end="2001-01-10")
    assert f2.sizes["time"] == 6 and str(f2.time.values[0])[:10] == "2001-01-05"


def test_argument_overrides_site_table(tmp_path):
    df = _daily_frame()
    path = _write(df, tmp_path, "FLX_FR-Pue_FLUXNET2015_FULLSET_DD_2001-2001_beta-3.csv")
    forcing, _ = read_fluxnet(path)
    assert forcing.attrs["igbp"] == "EBF" and forcing.lat.item() == pytest.approx(SITES["FR-Pue"].lat)
    forcing, _ = read_fluxnet(path, lat=10.0, pft="SHR")
    assert forcing.lat.item() == 10.0 and forcing.attrs["pft"] == "SHR" and forcing.attrs["igbp"] == "EBF"


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda d: d.drop(columns="P_F"), MissingVariableError, r"'precip'.*P_F"),
        (lambda d: d.drop(columns=["TA_F_DAY", "TA_F_DAY_SD"]), MissingVariableError, "Tmin/Tmax"),
        (lambda d: d.drop(columns=["NEE_VUT_REF", "GPP_NT_VUT_REF", "RECO_NT_VUT_REF", "LE_F_MDS"]),
         MissingVariableError, "no observation column"),
        (lambda d: d.assign(TIMESTAMP=d.TIMESTAMP.where(d.index != 5, "2001-13-45")), TimestampError, "2001-13-45"),
        (lambda d: d.assign(TIMESTAMP=d.TIMESTAMP.where(d.index != 5, d.TIMESTAMP[4])), TimeAxisError, "duplicate"),
        (lambda d: d.iloc[[0, 1, 3, 2, 4]], TimeAxisError, "must increase"),
        (lambda d: d.iloc[::2], TimeAxisError, "step of 2 days"),
        (lambda d: d.drop(index=7), TimeAxisError, "step of 2 days"),
        (lambda d: d.assign(TA_F=d.TA_F + 273.15), UnitsError, "looks like K"),
        (lambda d: d.assign(VPD_F=d.VPD_F * 100), UnitsError, "looks like Pa"),
        (lambda d: d.assign(SW_IN_F=d.SW_IN_F * 86400), UnitsError, "SW_IN_F"),
        (lambda d: d.assign(CO2_F_MDS=d.CO2_F_MDS * 1e-6), UnitsError, "ppm"),
        (lambda d: d.assign(NEE_VUT_REF=d.NEE_VUT_REF * 1e3), UnitsError, "gC m-2 d-1"),
        (lambda d: d.assign(P_F=d.P_F.astype(object).where(d.index != 2, "rain")), DataFileError, "'rain'"),
        (lambda d: d.assign(TA_F=np.where(d.index < 10, d.TA_F, -9999.0),
                            NEE_VUT_REF=np.where(d.index >= 10, d.NEE_VUT_REF, -9999.0),
                            GPP_NT_VUT_REF=np.where(d.index >= 10, 5.0, -9999.0),
                            RECO_NT_VUT_REF=np.where(d.index >= 10, 4.0, -9999.0),
                            LE_F_MDS=np.where(d.index >= 10, 49.0, -9999.0)),
         NoOverlapError, "no day in common"),
        (lambda d: d.iloc[:0], EmptyFileError, "no data rows"),
    ],
    ids=["missing-var", "missing-tminmax", "no-obs", "bad-timestamp", "duplicate", "non-monotonic", "wrong-step",
         "gap", "kelvin", "vpd-pa", "sw-sum", "co2-fraction", "nee-units", "non-numeric", "no-overlap", "header-only"],
)
def test_named_errors(tmp_path, edit, error, match):
    path = _write(edit(_daily_frame()), tmp_path)
    with pytest.raises(error, match=match) as info:
        read_fluxnet(path)
    assert isinstance(info.value, DataFileError) and isinstance(info.value, ValueError)
    assert SYN in str(info.value)  # the message names the file


def test_more_file_errors(tmp_path):
    empty = tmp_path / SYN
    empty.write_text("")
    with pytest.raises(EmptyFileError, match="0 bytes"):
        read_fluxnet(empty)
    path = _write(_daily_frame(), tmp_path)
    with pytest.raises(EmptyFileError, match="2001-01-01..2001-01-20"):
        read_fluxnet(path, start="2005-01-01")
    hh = _write(_daily_frame(), tmp_path, "FLX_XX-Syn_FLUXNET2015_FULLSET_HH_2001-2001_beta-3.csv")
    with pytest.raises(TimeAxisError, match="'HH'"):
        read_fluxnet(hh)
    with pytest.raises(ValueError, match="qc_missing"):
        read_fluxnet(path, qc_missing="maybe")
    # ERA files: another site, and no day in common
    era = pd.DataFrame({"TIMESTAMP": pd.date_range("1990-01-01", periods=5).strftime("%Y%m%d"), "TA_ERA": 1.0,
                        "SW_IN_ERA": 50.0, "VPD_ERA": 2.0, "P_ERA": 1.0})
    other = _write(era, tmp_path, "FLX_YY-Oth_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv")
    with pytest.raises(DataFileError, match="'YY-Oth'"):
        read_fluxnet(path, era_path=other)
    same = _write(era, tmp_path, "FLX_XX-Syn_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv")
    with pytest.raises(NoOverlapError, match="1990-01-01..1990-01-05"):
        read_fluxnet(path, era_path=same)


def test_qc_missing_warns_and_ignore(tmp_path):
    path = _write(_daily_frame().drop(columns="LE_F_MDS_QC"), tmp_path)
    with pytest.warns(DataQualityWarning, match="LE_F_MDS_QC"):
        _, obs = read_fluxnet(path)
    assert obs.LE.attrs["qc_applied"].startswith("no")
    _, obs = read_fluxnet(path, qc_missing="ignore")  # no warning (filterwarnings = error)
    assert "LE_qc" not in obs


# ---------------------------------------------------------------------------------------------------------------
# synthetic AmeriFlux BASE half-hourly file: aggregation rules against hand-computed values


def _hh_frame(days: int = 2) -> pd.DataFrame:
    start = pd.date_range("2011-06-01", periods=48 * days, freq="30min")
    n = start.size
    i = np.arange(n)
    ta = 15.0 + 5.0 * np.sin(2 * np.pi * (i % 48) / 48)
    return pd.DataFrame({
        "TIMESTAMP_START": start.strftime("%Y%m%d%H%M"),
        "TIMESTAMP_END": (start + pd.Timedelta("30min")).strftime("%Y%m%d%H%M"),
        "TA": ta,
        "SW_IN": np.where((i % 48 >= 12) & (i % 48 < 36), 400.0, 0.0),
        "P": np.where(i % 48 == 20, 1.5, 0.0),
        "VPD": np.full(n, 10.0),
        "CO2": np.full(n, 400.0),
        "FC": np.full(n, 2.0),
        "LE": np.full(n, 49.0),
    })


def _write_hh(df: pd.DataFrame, tmp_path: Path, name: str = "AMF_XX-Hhh_BASE_HH_1-1.csv") -> Path:
    path = tmp_path / name
    with open(path, "w") as fh:
        fh.write("# Site: XX-Hhh\n# Version: 1-1\n")
        df.to_csv(fh, index=False)
    return path


def test_ameriflux_aggregation_and_coverage(tmp_path):
    df = _hh_frame()
    day2 = df.index >= 48
    df.loc[df.index[day2][:10], "FC"] = -9999          # 38/48 = 0.79 < 0.8: NEE of day 2 -> NaN
    df.loc[df.index[day2][10:19], "TA"] = -9999        # 39/48 = 0.81 >= 0.8: TA of day 2 kept
    df.loc[df.index[day2][30:45], "P"] = -9999         # 33/48 < 0.8: precipitation of day 2 -> NaN
    df.loc[df.index[:48][20], "LE"] = -9999            # one missing record: mean of the other 47
    forcing, obs = read_ameriflux_base(_write_hh(df, tmp_path))
    assert forcing.sizes["time"] == 2 and forcing.attrs["site"] == "XX-Hhh"
    # hand-computed daily values
    ta1 = 15.0 + 5.0 * np.sin(2 * np.pi * np.arange(48) / 48)
    keep2 = np.ones(48, bool)
    keep2[10:19] = False
    np.testing.assert_allclose(forcing.ta.values, [ta1.mean(), ta1[keep2].mean()])
    np.testing.assert_allclose(forcing.tmin.values, [10.0, ta1[keep2].min()])
    np.testing.assert_allclose(forcing.tmax.values, [20.0, ta1[keep2].max()])
    np.testing.assert_allclose(forcing.swrad.values[0], 400.0 * 24 / 48 * 0.0864)  # 17.28 MJ m-2 d-1
    np.testing.assert_allclose(forcing.par.values[0], 8.64)
    np.testing.assert_allclose(forcing.precip.values, [1.5, np.nan])
    np.testing.assert_allclose(forcing.vpd.values, 1.0)
    np.testing.assert_allclose(forcing.co2.values, 400.0)
    np.testing.assert_allclose(obs.NEE.values, [2.0 * 12.011e-6 * 86400, np.nan])
    np.testing.assert_allclose(UMOL_CO2_M2_S_TO_GC_M2_D, 1.0377504)
    np.testing.assert_allclose(obs.NEE_qc.values, [1.0, 38 / 48])
    np.testing.assert_allclose(obs.LE.values, 49.0)
    np.testing.assert_allclose(obs.LE_qc.values, [47 / 48, 1.0])
    np.testing.assert_allclose(obs.ET.values, 49.0 * 86400 / 2.45e6)
    _assert_cf(forcing)
    _assert_cf(obs)
    # a looser coverage keeps day 2
    _, obs = read_ameriflux_base(_write_hh(df, tmp_path), min_coverage=0.75)
    assert np.isfinite(obs.NEE.values).all()


def test_ameriflux_vpd_from_rh_and_missing_records(tmp_path):
    df = _hh_frame(days=3).drop(columns="VPD")
    df["RH"] = 60.0
    df["TA"] = 20.0
    df = df.drop(index=range(48 + 5, 48 + 15))  # 10 records absent from day 2: coverage 38/48
    forcing, obs = read_ameriflux_base(_write_hh(df, tmp_path))
    es = 0.6108 * np.exp(17.27 * 20.0 / (20.0 + 237.3))
    np.testing.assert_allclose(forcing.vpd.values[[0, 2]], es * 0.4)
    assert np.isnan(forcing.vpd.values[1]) and np.isnan(forcing.ta.values[1]) and np.isnan(obs.NEE.values[1])


def test_ameriflux_errors(tmp_path):
    df = _hh_frame()
    bad_end = df.copy()
    bad_end.loc[5, "TIMESTAMP_END"] = bad_end.loc[6, "TIMESTAMP_END"]
    with pytest.raises(TimeAxisError, match="record length"):
        read_ameriflux_base(_write_hh(bad_end, tmp_path))
    bad_ts = df.copy()
    bad_ts.loc[3, "TIMESTAMP_START"] = "2011-06-01 01:30"
    with pytest.raises(TimestampError, match="YYYYMMDDHHMM"):
        read_ameriflux_base(_write_hh(bad_ts, tmp_path))
    with pytest.raises(TimeAxisError, match="duplicate"):
        read_ameriflux_base(_write_hh(pd.concat([df.iloc[:10], df.iloc[9:]]), tmp_path))
    with pytest.raises(MissingVariableError, match="'SW_IN'"):
        read_ameriflux_base(_write_hh(df.drop(columns="SW_IN"), tmp_path))
    with pytest.raises(MissingVariableError, match="'RH'.*VPD"):
        read_ameriflux_base(_write_hh(df.drop(columns="VPD"), tmp_path))
    with pytest.raises(UnitsError, match="looks like K"):
        read_ameriflux_base(_write_hh(df.assign(TA=df.TA + 273.15), tmp_path))
    with pytest.raises(EmptyFileError):
        read_ameriflux_base(_write_hh(df.iloc[:0], tmp_path))
    with pytest.raises(ValueError, match="min_coverage"):
        read_ameriflux_base(_write_hh(df, tmp_path), min_coverage=0.0)


# ---------------------------------------------------------------------------------------------------------------
# sites


def test_sites_table_and_pft_mapping():
    assert igbp_to_pft("ENF") == "ENF" and igbp_to_pft("osh") == "SHR" and igbp_to_pft("WSA") == "SAV"
    assert igbp_to_pft("CVM") == "CRO"
    with pytest.raises(ValueError, match="no vegetation PFT"):
        igbp_to_pft("URB")
    with pytest.raises(ValueError, match="unknown IGBP"):
        igbp_to_pft("XYZ")
    with pytest.raises(KeyError, match="lat="):
        site_info("XX-Nop")
    info = site_info("FI-Ken")
    assert (info.igbp, info.pft) == ("ENF", "ENF") and 67.9 < info.lat < 68.0
    for s in SITES.values():
        assert -90 <= s.lat <= 90 and -180 <= s.lon <= 180
        igbp_to_pft(s.igbp)


def test_every_shared_site_is_in_the_table(data_dir):
    import re

    ids = {re.search(r"(?:FLX|AMF)_([A-Z]{2}-[A-Za-z0-9]{3})_", p.name).group(1)
           for p in data_dir.rglob("*.csv") if p.name.startswith(("FLX_", "AMF_"))}
    assert ids <= set(SITES), sorted(ids - set(SITES))


# ---------------------------------------------------------------------------------------------------------------
# cache: never the network


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No download, no checkout shared/data, an empty cache and an empty BAYESLSM_DATA_DIR."""
    def no_network(*args, **kwargs):
        raise ConnectionError("network disabled in tests")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    monkeypatch.setattr(cache, "_checkout_data_dir", lambda: None)
    monkeypatch.setenv("BAYESLSM_CACHE_DIR", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("BAYESLSM_DATA_DIR", str(empty))
    return tmp_path


def test_fetch_from_env_dir(offline, data_dir, monkeypatch):
    name = "AMF_US-CRT_BASE_HH_2-5.csv"
    copy = offline / "mirror" / "some" / "deep" / "folder"
    copy.mkdir(parents=True)
    shutil.copy(data_dir / USCRT, copy / name)
    monkeypatch.setenv("BAYESLSM_DATA_DIR", str(offline / "mirror"))
    assert cache.fetch(name) == copy / name


def test_fetch_member_of_zip(offline, data_dir, monkeypatch):
    mirror = offline / "mirror"
    mirror.mkdir()
    shutil.copy(data_dir / USCRT_ZIP, mirror)
    monkeypatch.setenv("BAYESLSM_DATA_DIR", str(mirror))
    got = cache.fetch("AMF_US-CRT_BASE_HH_2-5.csv")
    assert got.parent == offline / "cache" / "ameriflux_base_example"
    assert cache.sha256(got) == cache.REGISTRY["AMF_US-CRT_BASE_HH_2-5.csv"].sha256


def test_fetch_hash_mismatch(offline, monkeypatch):
    name = "DE1_drivers.csv"
    mirror = offline / "mirror"
    mirror.mkdir()
    (mirror / name).write_text("1,2,3\n")
    monkeypatch.setenv("BAYESLSM_DATA_DIR", str(mirror))
    with pytest.raises(cache.DatasetHashError, match="SHA-256"):
        cache.fetch(name)


def test_fetch_missing_without_network(offline):
    name = "FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv"
    with pytest.raises(cache.DatasetNotFoundError) as info:
        cache.fetch(name)
    msg = str(info.value)
    assert name in msg and "BAYESLSM_DATA_DIR" in msg and "network disabled" in msg
    assert str(offline / "empty") in msg and "fluxdatakit/" in msg and "export BAYESLSM_DATA_DIR=" in msg
    with pytest.raises(cache.DatasetNotFoundError, match="download=False"):
        cache.fetch(name, download=False)
    with pytest.raises(cache.DatasetNotFoundError, match="AMF_US-CRT_BASE-BADM_2-5.zip"):
        cache.fetch("AMF_US-CRT_BASE_HH_2-5.csv")
    with pytest.raises(KeyError, match="did you mean"):
        cache.fetch("FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD.csv")


def test_registry_is_consistent():
    assert len(cache.REGISTRY) == 44
    for name, e in cache.REGISTRY.items():
        assert e.name == name and len(e.sha256) == 64
        assert e.url is None or e.url.startswith("https://")
        assert e.url is not None or e.member_of in cache.REGISTRY
