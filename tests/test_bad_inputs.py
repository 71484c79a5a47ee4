"""Inputs that must fail loudly (issue 11): each bad input is a named error (or, where allowed, a warning) that
names the file and the column or key, what was expected and what was found; through the command line it is
one line on stderr and exit status 2, never a traceback.

All files are tiny and written to ``tmp_path``; nothing samples (the NaN starting point uses a two-line
NumPyro model), so the file runs in seconds.
"""

from __future__ import annotations

import json
import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayeslsm.cli import main
from bayeslsm.data import reference_io as rio
from bayeslsm.data.fluxnet import DataFileError, UnitsError, read_fluxnet
from bayeslsm.data.plausibility import OutOfBoundsWarning, implausible
from bayeslsm.data.variables import PLAUSIBLE, VARIABLES
from bayeslsm.experiments import ExperimentError, load_experiment, run_experiment
from bayeslsm.infer.results import ResultsFileError, load
from bayeslsm.infer.validate import InitialPointError, checked_start
from bayeslsm.priors.catalogue import load_catalogue

N_DAYS = 400  # > 365: the seasonal-maximum and mean checks apply
SYN = "FLX_XX-Syn_FLUXNET2015_FULLSET_DD_2001-2002_beta-3.csv"


def _season(n: int = N_DAYS) -> np.ndarray:
    return np.sin(2 * np.pi * (np.arange(n) - 80) / 365.0)


def _drivers_frame() -> pd.DataFrame:
    """400 days of plausible dalec2_water drivers (mid-latitude seasonal cycle)."""
    s = _season()
    t = pd.date_range("2001-01-01", periods=N_DAYS, freq="D")
    return pd.DataFrame({
        "date": t.strftime("%Y-%m-%d"), "run_day": np.arange(1, N_DAYS + 1, dtype=float),
        "tmin_degC": 5 + 8 * s, "tmax_degC": 14 + 9 * s, "swrad_MJ_m2_d": 15 + 11 * s, "co2_ppm": 380.0,
        "doy": t.day_of_year.astype(float), "removed_frac": 0.0, "burned_frac": 0.0, "deltat_days": 1.0,
        "precip_mm_d": np.where(np.arange(N_DAYS) % 4 == 0, 6.0, 0.0), "vpd_kPa": 0.8 + 0.6 * s,
    })


def _fluxnet_frame() -> pd.DataFrame:
    """400 days of a plausible FLUXNET2015 DD file (file units: W m-2, hPa, mm d-1)."""
    s = _season()
    t = pd.date_range("2001-01-01", periods=N_DAYS, freq="D")
    return pd.DataFrame({
        "TIMESTAMP": t.strftime("%Y%m%d"), "TA_F": 10 + 10 * s, "TA_F_DAY": 13 + 10 * s, "TA_F_DAY_SD": 2.0,
        "TA_F_NIGHT": 7 + 10 * s, "TA_F_NIGHT_SD": 1.0, "SW_IN_F": 160 + 120 * s, "VPD_F": 8 + 6 * s,
        "P_F": np.where(np.arange(N_DAYS) % 3 == 0, 6.0, 0.0), "CO2_F_MDS": 400.0, "NEE_VUT_REF": -1 + s,
        "NEE_VUT_REF_QC": 1.0, "LE_F_MDS": 60 + 40 * s, "LE_F_MDS_QC": 1.0,
    })


def _params_doc(model: str = "dalec2_water") -> dict:
    cat = load_catalogue(model).parameters
    return {"parameters": {k: v.default for k, v in cat.items()}, "lat_deg": 45.0}


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for f in fragments:
        assert f in err, f"{f!r} not in {err!r}"
    return err


def _set_row(col, i, value):
    def edit(d):
        d[col] = d[col].astype(object)
        d.loc[i, col] = value
    return edit


# ---------------------------------------------------------------------------------------------------
# the registry's plausible ranges


def test_every_plausible_range_is_registered_and_ordered():
    for name, rng in PLAUSIBLE.items():
        assert name in VARIABLES and rng.source
        assert rng.lower is None or rng.upper is None or rng.lower < rng.upper
        for pair in (rng.annual_max, rng.annual_mean):
            assert pair is None or pair[0] < pair[1]


@pytest.mark.parametrize("name, factor", [("swrad", 1 / 0.0864), ("swrad", 0.0864), ("vpd", 10.0), ("vpd", 0.1),
                                          ("precip", 1e-3), ("LE", 0.0864)])
def test_unit_mistakes_are_implausible_and_correct_units_are_not(name, factor):
    """The drivers and fluxes above are plausible; the same record scaled by a unit mistake is not."""
    s = _season()
    ok = {"swrad": 15 + 11 * s, "vpd": 0.8 + 0.6 * s, "precip": np.where(np.arange(N_DAYS) % 4 == 0, 6.0, 0.0),
          "LE": 60 + 40 * s}[name]
    assert implausible(ok, name) is None
    problem = implausible(ok * factor, name)
    assert problem is not None and name in problem.message and "expected within" in problem.message


def test_statistics_need_a_year():
    """Thirty days of small SW_IN (a polar winter month) are possible; the seasonal check needs >= 365 days."""
    assert implausible(np.full(30, 0.5), "swrad") is None
    assert implausible(np.full(365, 0.5), "swrad").statistic == "max"


# ---------------------------------------------------------------------------------------------------
# driver CSVs and params.json through `bayeslsm simulate`

DRIVER_CASES = {
    "swrad in W m-2": (lambda d: d.__setitem__("swrad_MJ_m2_d", d.swrad_MJ_m2_d / 0.0864),
                       ["swrad_MJ_m2_d", "implausible swrad", "MJ m-2 d-1"]),
    "vpd in hPa": (lambda d: d.__setitem__("vpd_kPa", d.vpd_kPa * 10), ["vpd_kPa", "implausible vpd", "kPa"]),
    "precip in m": (lambda d: d.__setitem__("precip_mm_d", d.precip_mm_d / 1000),
                    ["precip_mm_d", "seasonal maximum", "expected within [2, 2000] mm d-1"]),
    "negative precip": (_set_row("precip_mm_d", 5, -3.0), ["precip_mm_d", "line 7", ">= 0"]),
    "inf": (_set_row("tmax_degC", 7, "inf"), ["tmax_degC", "line 9", "finite", "'inf'"]),
    "co2 -400": (lambda d: d.__setitem__("co2_ppm", -400.0), ["co2_ppm", "-400 ppm", "expected within [150, 2000]"]),
    "tmin in K": (lambda d: d.__setitem__("tmin_degC", d.tmin_degC + 273.15), ["tmin_degC", "degC"]),
}


@pytest.fixture()
def water_case(tmp_path):
    _drivers_frame().to_csv(tmp_path / "drivers.csv", index=False)
    (tmp_path / "params.json").write_text(json.dumps(_params_doc()))
    return tmp_path


def _simulate(case: Path, *extra: str, drivers="drivers.csv", params="params.json", model="dalec2_water") -> int:
    return main(["simulate", model, "--drivers", str(case / drivers), "--params", str(case / params),
                 "--out", str(case / "out.csv"), *extra])


@pytest.mark.parametrize("name", list(DRIVER_CASES))
def test_bad_driver_values(water_case, capsys, name):
    edit, fragments = DRIVER_CASES[name]
    d = _drivers_frame()
    edit(d)
    d.to_csv(water_case / "drivers.csv", index=False)
    assert _simulate(water_case) == 2
    _one_line_error(capsys, f"file '{water_case / 'drivers.csv'}'", *fragments)
    assert not (water_case / "out.csv").exists()


def test_plausible_drivers_read(water_case):
    d = rio.read_dalec_drivers(water_case / "drivers.csv", model="dalec2_water")
    assert d.n == N_DAYS


BYTES_CASES = {
    "non-UTF-8": (lambda b: b.replace(b"date", b"d\xe9te", 1), ["expected UTF-8", "offset 1"]),
    "binary": (lambda b: bytes(range(256)) * 4, ["expected UTF-8"]),
    "NUL byte": (lambda b: b[:300] + b"\x00" + b[300:], ["NUL byte at offset 300"]),
    "truncated last row": (lambda b: b[:-25], [f"line {N_DAYS + 1}", "truncated"]),
}


@pytest.mark.parametrize("name", list(BYTES_CASES))
def test_broken_driver_file(water_case, capsys, name):
    edit, fragments = BYTES_CASES[name]
    p = water_case / "drivers.csv"
    p.write_bytes(edit(p.read_bytes()))
    assert _simulate(water_case) == 2
    _one_line_error(capsys, f"file '{p}'", *fragments)


PARAM_CASES = {
    "unknown parameter": (lambda p: p.__setitem__("f_autox", 0.3), ["['f_autox']", "not parameters of dalec2_water"]),
    "outside bounds": (lambda p: p.__setitem__("f_auto", 5.0), ["'f_auto' = 5.0", "catalogue bounds [0.2, 0.8]"]),
    "negative pool": (lambda p: p.__setitem__("cf_init", -500.0), ["'cf_init' = -500.0", "catalogue bounds"]),
}


@pytest.mark.parametrize("name", list(PARAM_CASES))
def test_bad_parameters_fail_or_warn_when_allowed(water_case, capsys, name):
    edit, fragments = PARAM_CASES[name]
    doc = _params_doc()
    edit(doc["parameters"])
    (water_case / "params.json").write_text(json.dumps(doc))
    assert _simulate(water_case) == 2
    _one_line_error(capsys, "params.json", "--allow-out-of-bounds", *fragments)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = _simulate(water_case, "--allow-out-of-bounds", "--allow-invalid-output")
    kinds = {w.category for w in caught}
    assert OutOfBoundsWarning in kinds and rc == 0
    assert any(fragments[0] in str(w.message) for w in caught if w.category is OutOfBoundsWarning)


def test_negative_pools_fail_unless_allowed(water_case, capsys):
    """A negative initial foliar pool (allowed past the catalogue check) keeps C_fol negative: exit 2, nothing
    written; --allow-invalid-output writes it with a RuntimeWarning."""
    doc = _params_doc()
    doc["parameters"]["cf_init"] = -500.0
    (water_case / "params.json").write_text(json.dumps(doc))
    with pytest.warns(OutOfBoundsWarning):
        assert _simulate(water_case, "--allow-out-of-bounds") == 2
    err = _one_line_error(capsys, "become negative", "--allow-invalid-output")
    assert "nothing written" in err and not (water_case / "out.csv").exists()
    with pytest.warns(OutOfBoundsWarning), pytest.warns(RuntimeWarning, match="become negative"):
        assert _simulate(water_case, "--allow-out-of-bounds", "--allow-invalid-output") == 0
    assert (water_case / "out.csv").is_file()


# ---------------------------------------------------------------------------------------------------
# FLUXNET reader (API)

FLUX_CASES = {
    "SW_IN in MJ": (lambda d: d.__setitem__("SW_IN_F", d.SW_IN_F * 0.0864), UnitsError, ["SW_IN_F", "W m-2"]),
    "VPD in kPa": (lambda d: d.__setitem__("VPD_F", d.VPD_F / 10), UnitsError, ["VPD_F", "hPa"]),
    "P in m": (lambda d: d.__setitem__("P_F", d.P_F / 1000), UnitsError, ["P_F", "seasonal maximum"]),
    "LE in MJ": (lambda d: d.__setitem__("LE_F_MDS", d.LE_F_MDS * 0.0864), UnitsError, ["LE_F_MDS", "W m-2"]),
    "negative P": (_set_row("P_F", 9, -4.0), UnitsError, ["P_F", "-4 mm d-1", "data row 10"]),
    "inf TA": (_set_row("TA_F", 9, np.inf), DataFileError, ["TA_F", "finite", "data row 10"]),
}


def _flux_file(tmp_path: Path, edit=None) -> Path:
    df = _fluxnet_frame()
    if edit is not None:
        edit(df)
    p = tmp_path / SYN
    df.to_csv(p, index=False)
    return p


def test_plausible_fluxnet_file_reads(tmp_path):
    forcing, obs = read_fluxnet(_flux_file(tmp_path), lat=45.0, igbp="DBF")
    assert forcing.sizes["time"] == N_DAYS and "LE" in obs


@pytest.mark.parametrize("name", list(FLUX_CASES))
def test_bad_fluxnet_values(tmp_path, name):
    edit, error, fragments = FLUX_CASES[name]
    p = _flux_file(tmp_path, edit)
    with pytest.raises(error) as info:
        read_fluxnet(p, lat=45.0, igbp="DBF")
    for f in [str(p), *fragments]:
        assert f in str(info.value)


FLUX_BYTES = {
    "non-UTF-8": (lambda b: b.replace(b"TA_F,", b"TA_F\xff,", 1), "expected UTF-8 CSV text"),
    "truncated last row": (lambda b: b[:-30], "is the file truncated?"),
    "binary": (lambda b: b"\x00\x01PK\x03\x04" * 300, "NUL byte"),
}


@pytest.mark.parametrize("name", list(FLUX_BYTES))
def test_broken_fluxnet_file(tmp_path, name):
    edit, fragment = FLUX_BYTES[name]
    p = _flux_file(tmp_path)
    p.write_bytes(edit(p.read_bytes()))
    with pytest.raises(DataFileError, match=fragment) as info:
        read_fluxnet(p, lat=45.0, igbp="DBF")
    assert str(p) in str(info.value)


def test_site_id_must_match_the_file(tmp_path):
    with pytest.raises(DataFileError, match=r"`site` is 'FR-Pue' but the file name says site 'XX-Syn'"):
        read_fluxnet(_flux_file(tmp_path), site="FR-Pue", lat=45.0, igbp="DBF")


# ---------------------------------------------------------------------------------------------------
# experiment files


def _toml(tmp_path: Path, extra_site: str = "", extra: str = "") -> str:
    p = _flux_file(tmp_path)
    return textwrap.dedent(f"""
        [experiment]
        name = "tiny"
        model = "dalec2_water"
        [periods]
        calibration = ["2001-01-01", "2001-12-31"]
        [[sites]]
        id = "XX-Syn"
        file = "{p}"
        pft = "DBF"
        {extra_site}
        [[streams]]
        name = "NEE"
        [parameters]
        free = ["ceff"]
        {extra}
        [sampler]
        chains = 1
        """)


TOML_CASES = {
    "constant co2 -400": ("constant_forcing = {co2 = -400.0}", "", "sites[0].constant_forcing.co2", "-400.0"),
    "constant precip < 0": ("constant_forcing = {precip = -1.0}", "", "sites[0].constant_forcing.precip", "-1.0"),
    "fixed outside bounds": ("", "fixed = {f_auto = 5.0}", "parameters.fixed.f_auto", "[0.2, 0.8]"),
}


@pytest.mark.parametrize("name", list(TOML_CASES))
def test_out_of_range_values_in_toml(tmp_path, name):
    site, extra, key, fragment = TOML_CASES[name]
    p = tmp_path / "exp.toml"
    p.write_text(_toml(tmp_path, site, extra))
    with pytest.raises(ExperimentError, match="allow-out-of-bounds") as info:
        load_experiment(p)
    assert info.value.key == key and fragment in str(info.value) and str(p) in str(info.value)
    with pytest.warns(OutOfBoundsWarning, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_experiment(p, allow_out_of_bounds=True)


@pytest.mark.parametrize("raw, fragment", [
    (lambda t: t.replace("tiny", "t\xefny").encode("latin-1"), "expected UTF-8 TOML"),
    (lambda t: bytes(range(256)) * 4, "expected UTF-8 TOML"),
    (lambda t: (t + "seed = 18446744073709551616\n").encode(), "expected a seed in [0, 4294967295]"),
], ids=["non-UTF-8", "binary", "seed 2**64"])
def test_broken_toml(tmp_path, raw, fragment):
    p = tmp_path / "exp.toml"
    p.write_bytes(raw(_toml(tmp_path)))
    with pytest.raises(ExperimentError) as info:
        load_experiment(p)
    assert fragment in str(info.value) and str(p) in str(info.value)


@pytest.mark.parametrize("argv", [["run", "X.toml", "--out", "o", "--seed", str(2**40)],
                                  ["demo", "--seed", "-1"], ["demo", "--seed", str(2**64)]],
                         ids=["run 2**40", "demo -1", "demo 2**64"])
def test_seed_out_of_range_cli(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "expected a seed in [0, 4294967295]" in err


# ---------------------------------------------------------------------------------------------------
# output folder, checked before any data is read


def _no_data_reading(monkeypatch):
    import bayeslsm.experiments.run as run_mod

    def fail(*a, **k):
        raise AssertionError("data were read before the output folder was checked")

    monkeypatch.setattr(run_mod, "prepare_data", fail)


@pytest.mark.parametrize("layout, fragment", [
    ("non-empty", "is not empty (1 entries: notes.txt)"),
    ("checkpoint", "it holds a checkpoint: pass --resume"),
    ("file", "expected a folder; found a file"),
    ("under a file", "cannot be created"),
])
def test_output_folder_checked_before_data(tmp_path, monkeypatch, capsys, layout, fragment):
    _no_data_reading(monkeypatch)
    p = tmp_path / "exp.toml"
    p.write_text(_toml(tmp_path))
    out = tmp_path / "out"
    if layout in ("non-empty", "checkpoint"):
        out.mkdir()
        (out / ("notes.txt" if layout == "non-empty" else "checkpoint.nc")).write_text("x")
    elif layout == "file":
        out.write_text("x")
    else:
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    with pytest.raises(rio.OutputFolderError, match=re.escape(fragment)):
        run_experiment(p, out)
    assert main(["run", str(p), "--out", str(out)]) == 2
    _one_line_error(capsys, fragment)


def test_overwrite_lets_a_non_empty_folder_through(tmp_path, monkeypatch):
    _no_data_reading(monkeypatch)
    p = tmp_path / "exp.toml"
    p.write_text(_toml(tmp_path))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    with pytest.raises(AssertionError, match="data were read"):  # past the folder check, into data reading
        run_experiment(p, tmp_path / "out", overwrite=True)
    assert rio.check_output_dir(tmp_path / "out", resume=True) == tmp_path / "out"
    assert rio.check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # the check creates nothing


def test_demo_checks_its_folder_before_generating_data(tmp_path, monkeypatch, capsys):
    import bayeslsm.demo as demo

    monkeypatch.setattr(demo, "run_demo", lambda **kw: pytest.fail("the demo started in a non-empty folder"))
    (tmp_path / "x.txt").write_text("x")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "is not empty", "--overwrite")


# ---------------------------------------------------------------------------------------------------
# results files


def test_netcdf_without_posterior_group(tmp_path, capsys):
    import xarray as xr

    p = tmp_path / "posterior.nc"
    xr.Dataset({"a": ("x", np.ones(3))}).to_netcdf(p, engine="h5netcdf")
    with pytest.raises(ResultsFileError, match="expected a 'posterior' group"):
        load(p)
    assert main(["report", str(p)]) == 2
    _one_line_error(capsys, str(p), "'posterior' group")


def test_text_file_as_posterior(tmp_path, capsys):
    p = tmp_path / "posterior.nc"
    p.write_text("not a netcdf\n")
    assert main(["report", str(p)]) == 2
    _one_line_error(capsys, str(p), "expected a netCDF4 (HDF5) file")


def test_corrupt_skill_json(tmp_path, capsys):
    import arviz as az

    from bayeslsm.infer import save

    save(az.from_dict(posterior={"ceff": np.random.default_rng(0).normal(size=(1, 10))}), tmp_path / "posterior.nc")
    (tmp_path / "skill.json").write_text('{"prob": 0.9, "streams": {')
    assert main(["report", str(tmp_path / "posterior.nc"), "--out", str(tmp_path / "rep")]) == 2
    _one_line_error(capsys, str(tmp_path / "skill.json"), "not valid JSON")


# ---------------------------------------------------------------------------------------------------
# starting point


def test_nan_starting_point_is_named():
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    def model():
        x = numpyro.sample("x", dist.Normal())
        numpyro.factor("nan", jnp.nan * x)

    mcmc = MCMC(NUTS(model), num_warmup=2, num_samples=2, progress_bar=False)
    mcmc.run = checked_start(mcmc.run, {"x": 0.5})
    with pytest.raises(InitialPointError, match=r"not finite at the given init_values \{'x': 0.5\}"):
        mcmc.run(jax.random.PRNGKey(0))


def test_other_runtime_errors_pass_through():
    def boom(*a, **k):
        raise RuntimeError("something else")

    with pytest.raises(RuntimeError, match="something else"):
        checked_start(boom)()
