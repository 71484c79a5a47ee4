"""``bayeslsm simulate`` against the golden outputs, its error handling, and the reference-format I/O.

Tolerances (two-sided: an error is a non-negative number that must not exceed them):

* VSEM: <= 1e-12 relative per column (NEE against max(|NEE|, 1e-3·max|NEE|), it crosses zero); the model
  reproduces BayesianTools to ~1e-14 (tests/test_vsem_reference.py), the CSV round trip adds nothing
  (repr-written floats parse back exactly).
* DALEC: <= 1e-9 relative per column, the reference README's acceptance rule: values below 1e-6·max|column|
  are judged against 1e-6·max|column|, NEE against max(|NEE|, 1e-3·max|NEE|) (tests/test_dalec_reference.py
  explains the ~1e-13..2e-11 actually reached).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayeslsm import __version__
from bayeslsm.cli import COMMANDS, main, required_parameters
from bayeslsm.data import reference_io as rio
from bayeslsm.data.plausibility import OutOfBoundsWarning
from bayeslsm.data.variables import variable
from bayeslsm.lsm import DALEC2, DALEC2Water

VSEM_RTOL = 1e-12
DALEC_RTOL = 1e-9
FLOOR = 1e-6
NEE_FLOOR = 1e-3
INDEX_COLUMNS = {"date", "run_day", "doy", "day", "PAR_MJ_m2_d"}


def column_errors(got: pd.DataFrame, ref: pd.DataFrame, floor: float | None) -> dict[str, float]:
    """Max relative error per numeric golden column (README acceptance rule; ``floor=None``: no floor)."""
    errors = {}
    for col in ref.columns:
        if col in INDEX_COLUMNS:
            continue
        want = ref[col].to_numpy(float)
        have = got[col].to_numpy(float)
        scale = np.max(np.abs(want))
        if col == "NEE":
            denom = np.maximum(np.abs(want), NEE_FLOOR * scale)
        elif floor is not None:
            denom = np.maximum(np.abs(want), floor * scale) if scale > 0 else np.ones_like(want)
        else:
            denom = np.abs(want)
        errors[col] = float(np.max(np.abs(have - want) / denom))
    return errors


def _assert_index_columns_exact(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(got.columns[: len(ref.columns)]) == list(ref.columns)
    for col in INDEX_COLUMNS & set(ref.columns):
        assert (got[col] == ref[col]).all(), f"{col} differs from the golden file"


def _simulate(model, drivers, params, out, *extra) -> int:
    return main(["simulate", model, "--drivers", str(drivers), "--params", str(params), "--out", str(out), *extra])


# ---------------------------------------------------------------------------------------------------
# golden agreement


def test_vsem_golden_in_process(reference_dir, tmp_path, capsys):
    case = reference_dir / "vsem" / "FR-Pue_2000-2004" / "random_2"
    out = tmp_path / "vsem.csv"
    assert _simulate("vsem", case.parent / "par.csv", case / "params.json", out) == 0
    assert "wrote" in capsys.readouterr().out
    got, ref = pd.read_csv(out), pd.read_csv(case / "outputs.csv")
    assert list(got.columns) == list(ref.columns) == list(rio.VSEM_OUTPUT_COLUMNS)
    _assert_index_columns_exact(got, ref)
    errors = column_errors(got, ref, floor=None)
    print("\nVSEM via CLI, max relative error per column:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert all(0.0 <= e <= VSEM_RTOL for e in errors.values()), errors


@pytest.mark.parametrize("case", ["FR-Pue_2000-2004/edinburgh_mean", "FI-Ken_2018-2020/random_2"])
def test_dalec_golden_in_process(reference_dir, tmp_path, case):
    """random_2 has d_onset and d_fall beyond the catalogue's [0, 365.25] d (the reference generator draws them
    from a wider range): it runs only with --allow-out-of-bounds, and warns."""
    case_dir = reference_dir / "dalec" / case
    out = tmp_path / "dalec.csv"
    if case.endswith("random_2"):
        assert _simulate("dalec2", case_dir.parent / "drivers.csv", case_dir / "params.json", out) == 2
        with pytest.warns(OutOfBoundsWarning, match=r"'d_onset' = 658.9.* outside its catalogue bounds"):
            rc = _simulate("dalec2", case_dir.parent / "drivers.csv", case_dir / "params.json", out,
                           "--allow-out-of-bounds")
        assert rc == 0
    else:
        assert _simulate("dalec2", case_dir.parent / "drivers.csv", case_dir / "params.json", out) == 0
    got, ref = pd.read_csv(out), pd.read_csv(case_dir / "outputs.csv")
    assert list(got.columns) == list(ref.columns) == list(rio.DALEC_OUTPUT_COLUMNS)
    _assert_index_columns_exact(got, ref)
    errors = column_errors(got, ref, floor=FLOOR)
    worst = max(errors, key=errors.get)
    print(f"\n{case} via CLI: max relative error {errors[worst]:.1e} ({worst})")
    bad = {k: v for k, v in errors.items() if not 0.0 <= v <= DALEC_RTOL}
    assert not bad, f"{case}: columns above {DALEC_RTOL}: {bad}"


def test_error_measure_can_fail(reference_dir):
    ref = pd.read_csv(reference_dir / "dalec" / "FI-Ken_2018-2020" / "random_1" / "outputs.csv")
    assert column_errors(ref.assign(GPP=ref.GPP * (1 + 1e-8)), ref, floor=FLOOR)["GPP"] > DALEC_RTOL
    assert max(column_errors(ref, ref, floor=FLOOR).values()) == 0.0


def test_executable_reproduces_golden_case(reference_dir, tmp_path):
    exe = Path(sys.executable).parent / "bayeslsm"
    assert exe.is_file(), f"console script not found next to {sys.executable}; reinstall the package (pip install -e .)"
    case = reference_dir / "dalec" / "FI-Ken_2018-2020" / "random_1"
    res = subprocess.run(
        [str(exe), "simulate", "dalec2", "--drivers", str(case.parent / "drivers.csv"),
         "--params", str(case / "params.json"), "--out", "outputs.csv",
         "--allow-out-of-bounds"],  # random_1: d_onset, d_fall beyond the catalogue's [0, 365.25] d
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0, res.stderr
    got, ref = pd.read_csv(tmp_path / "outputs.csv"), pd.read_csv(case / "outputs.csv")
    assert list(got.columns) == list(ref.columns)
    errors = column_errors(got, ref, floor=FLOOR)
    assert all(0.0 <= e <= DALEC_RTOL for e in errors.values()), errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs.csv"]


def test_dalec2_water_columns(reference_dir, tmp_path):
    src = reference_dir / "dalec" / "FR-Pue_2000-2004"
    drivers = pd.read_csv(src / "drivers.csv", dtype={"date": str}).iloc[:400]
    rng = np.random.default_rng(0)
    drivers = drivers.assign(precip_mm_d=rng.gamma(0.8, 3.0, len(drivers)), vpd_kPa=rng.uniform(0.1, 2.0, len(drivers)))
    drivers.to_csv(tmp_path / "drivers.csv", index=False)
    meta = json.loads((src / "edinburgh_mean" / "params.json").read_text())
    meta["parameters"].update({k: v for k, v in DALEC2Water.DEFAULTS.items() if k not in meta["parameters"]})
    (tmp_path / "params.json").write_text(json.dumps(meta))
    out = tmp_path / "water.csv"
    assert _simulate("dalec2_water", tmp_path / "drivers.csv", tmp_path / "params.json", out) == 0
    got = pd.read_csv(out)
    water = ["LE", "ET", "transpiration", "soil_evap", "drainage", "runoff", "Rn", "beta", "W_end"]
    assert list(got.columns) == [*rio.DALEC_OUTPUT_COLUMNS, *water]
    assert len(got) == 400 and np.isfinite(got[water].to_numpy()).all()
    assert all(variable(c, "dalec2_water").units for c in water)
    assert (got.W_end >= 0).all() and (got.W_end <= DALEC2Water.DEFAULTS["W_max"]).all()


# ---------------------------------------------------------------------------------------------------
# bad input: exit status 2, one message naming the file and the column or parameter


@pytest.fixture
def small_case(reference_dir, tmp_path):
    """30 days of FR-Pue drivers and the edinburgh_mean parameters, as text, in tmp_path."""
    src = reference_dir / "dalec" / "FR-Pue_2000-2004"
    lines = (src / "drivers.csv").read_text().splitlines()[:31]
    (tmp_path / "drivers.csv").write_text("\n".join(lines) + "\n")
    shutil.copy(src / "edinburgh_mean" / "params.json", tmp_path / "params.json")
    return tmp_path


def _edit_drivers(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    header, rows = edit(header, rows)
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")


def _set(column: str, row: int, value: str):
    def edit(header, rows):
        rows[row][header.index(column)] = value
        return header, rows
    return edit


def _drop_column(column: str):
    def edit(header, rows):
        j = header.index(column)
        return [h for i, h in enumerate(header) if i != j], [[v for i, v in enumerate(r) if i != j] for r in rows]
    return edit


DRIVER_CASES = {
    "missing column": (_drop_column("co2_ppm"), ["co2_ppm", "missing column"]),
    "NaN": (_set("tmin_degC", 4, "nan"), ["tmin_degC", "finite", "line 6"]),
    "empty value": (_set("swrad_MJ_m2_d", 9, ""), ["swrad_MJ_m2_d", "empty value", "line 11"]),
    "infinite": (_set("tmax_degC", 2, "inf"), ["tmax_degC", "finite"]),
    "text": (_set("co2_ppm", 3, "abc"), ["co2_ppm", "expected a number", "'abc'"]),
    "non-daily dates": (lambda h, r: (h, r[:10] + r[11:]), ["'date'", "consecutive", "2000-01-12 after 2000-01-10"]),
    "non-daily deltat": (_set("deltat_days", 7, "0.5"), ["deltat_days", "non-daily", "0.5"]),
    "run_day gap": (_set("run_day", 7, "9.0"), ["run_day", "increase by 1"]),
    "doy off": (_set("doy", 5, "7.0"), ["'doy'", "disagrees with the date 2000-01-06"]),
    "bad date": (_set("date", 3, "2000-13-04"), ["'date'", "cannot parse date '2000-13-04'", "YYYY-MM-DD"]),
    "bad date format": (_set("date", 0, "01/01/2000"), ["'date'", "cannot parse date"]),
    "fraction": (_set("burned_frac", 1, "1.5"), ["burned_frac", "fraction in [0, 1]"]),
    "row too long": (lambda h, r: (h, r[:5] + [r[5] + ["1.0"]] + r[6:]), ["line 7", "11 fields", "header has 10"]),
    "header only": (lambda h, r: (h, []), ["no data rows"]),
}


def _run_bad(case_dir: Path, capsys, model="dalec2", drivers="drivers.csv", params="params.json", extra=()):
    out = case_dir / "out.csv"
    rc = _simulate(model, case_dir / drivers, case_dir / params, out, *extra)
    err = capsys.readouterr().err
    return rc, err, out


@pytest.mark.parametrize("name", list(DRIVER_CASES))
def test_bad_driver_file(small_case, capsys, name):
    edit, expected = DRIVER_CASES[name]
    _edit_drivers(small_case / "drivers.csv", edit)
    rc, err, out = _run_bad(small_case, capsys)
    assert rc == 2, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert f"file '{small_case / 'drivers.csv'}'" in err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert not out.exists()


def test_empty_and_missing_files(small_case, capsys):
    (small_case / "empty.csv").write_text("")
    rc, err, _ = _run_bad(small_case, capsys, drivers="empty.csv")
    assert rc == 2 and "empty.csv" in err and "the file is empty" in err
    rc, err, _ = _run_bad(small_case, capsys, drivers="nowhere.csv")
    assert rc == 2 and "nowhere.csv" in err and "not found" in err
    rc, err, _ = _run_bad(small_case, capsys, params="nowhere.json")
    assert rc == 2 and "nowhere.json" in err and "not found" in err


def _edit_params(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


PARAM_CASES = {
    "missing parameter": (lambda d: d["parameters"].pop("f_auto"), ["parameter 'f_auto'", "missing parameter"]),
    "missing initial pool": (lambda d: d["parameters"].pop("cs_init"), ["parameter 'cs_init'"]),
    "typo": (lambda d: d["parameters"].__setitem__("clmaa", d["parameters"].pop("clma")),
             ["parameter 'clma'", "not expected: ['clmaa']"]),
    "string value": (lambda d: d["parameters"].__setitem__("ceff", "71.4"), ["parameter 'ceff'", "expected a number"]),
    "null value": (lambda d: d["parameters"].__setitem__("ceff", None), ["parameter 'ceff'", "expected a number"]),
    "no parameters": (lambda d: d.pop("parameters"), ["'parameters'", "no 'parameters' key"]),
    "missing latitude": (lambda d: d.pop("lat_deg"), ["parameter 'lat_deg'", "missing latitude", "--lat"]),
    "bad latitude": (lambda d: d.__setitem__("lat_deg", 123.0), ["parameter 'lat_deg'", "[-90, 90]"]),
}


@pytest.mark.parametrize("name", list(PARAM_CASES))
def test_bad_params_file(small_case, capsys, name):
    edit, expected = PARAM_CASES[name]
    _edit_params(small_case / "params.json", edit)
    rc, err, out = _run_bad(small_case, capsys)
    assert rc == 2, err
    assert "Traceback" not in err and f"file '{small_case / 'params.json'}'" in err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert not out.exists()


def test_invalid_json_and_lat_option(small_case, capsys):
    (small_case / "broken.json").write_text('{"parameters": {"f_auto": 0.5,}}')
    rc, err, _ = _run_bad(small_case, capsys, params="broken.json")
    assert rc == 2 and "broken.json" in err and "not valid JSON" in err and "line 1" in err
    # --lat supplies a latitude the file lacks, and is range-checked by the parser
    _edit_params(small_case / "params.json", lambda d: d.pop("lat_deg"))
    rc, err, out = _run_bad(small_case, capsys, extra=("--lat", "43.7414"))
    assert rc == 0 and out.exists()
    rc, err, _ = _run_bad(small_case, capsys, extra=("--lat", "95"))
    assert rc == 2 and "--lat" in err and "[-90, 90]" in err


def test_vsem_bad_inputs(reference_dir, tmp_path, capsys):
    src = reference_dir / "vsem" / "FR-Pue_2000-2004"
    lines = (src / "par.csv").read_text().splitlines()[:21]
    lines[5] = lines[5].rsplit(",", 1)[0] + ",NaN"
    (tmp_path / "par.csv").write_text("\n".join(lines) + "\n")
    shutil.copy(src / "default" / "params.json", tmp_path / "params.json")
    rc, err, _ = _run_bad(tmp_path, capsys, model="vsem", drivers="par.csv")
    assert rc == 2 and "par.csv" in err and "'PAR_MJ_m2_d'" in err and "line 6" in err
    (tmp_path / "par.csv").write_text("date,day\n2000-01-01,1\n")
    rc, err, _ = _run_bad(tmp_path, capsys, model="vsem", drivers="par.csv")
    assert rc == 2 and "'PAR_MJ_m2_d'" in err and "missing column" in err
    (tmp_path / "par.csv").write_text("date,day,PAR_MJ_m2_d\n2000-01-01,1,3.0\n2000-01-02,3,3.0\n")
    rc, err, _ = _run_bad(tmp_path, capsys, model="vsem", drivers="par.csv")
    assert rc == 2 and "'day'" in err and "increase by 1" in err
    (tmp_path / "par.csv").write_text("date,day,PAR_MJ_m2_d\n2000-01-01,1,3.0\n")
    _edit_params(tmp_path / "params.json", lambda d: d["parameters"].pop("tauS"))
    rc, err, _ = _run_bad(tmp_path, capsys, model="vsem", drivers="par.csv")
    assert rc == 2 and "params.json" in err and "parameter 'tauS'" in err
    rc, err, _ = _run_bad(tmp_path, capsys, model="vsem", drivers="par.csv", extra=("--lat", "40"))
    assert rc == 2 and "--lat applies to DALEC models only" in err


def test_non_finite_outputs_fail_unless_allowed(reference_dir, tmp_path, capsys):
    """Parameters that break the model (tauV = 0 divides by zero, outside the catalogue bounds too) are refused
    (exit 2, nothing written); with --allow-out-of-bounds --allow-invalid-output a RuntimeWarning names the
    columns, the first bad day and the params file, and the (nan/inf) rows are written."""
    src = reference_dir / "vsem" / "FR-Pue_2000-2004"
    lines = (src / "par.csv").read_text().splitlines()[:11]
    (tmp_path / "par.csv").write_text("\n".join(lines) + "\n")
    shutil.copy(src / "default" / "params.json", tmp_path / "params.json")
    _edit_params(tmp_path / "params.json", lambda d: d["parameters"].__setitem__("tauV", 0.0))
    out = tmp_path / "out.csv"
    assert _simulate("vsem", tmp_path / "par.csv", tmp_path / "params.json", out) == 2
    assert "'tauV' = 0.0 is outside its catalogue bounds" in capsys.readouterr().err
    with pytest.warns(OutOfBoundsWarning, match="tauV"):
        assert _simulate("vsem", tmp_path / "par.csv", tmp_path / "params.json", out, "--allow-out-of-bounds") == 2
    err = capsys.readouterr().err
    assert "non-finite values from day 1 on" in err and "--allow-invalid-output" in err and not out.exists()
    with pytest.warns(OutOfBoundsWarning, match="tauV"), pytest.warns(
            RuntimeWarning, match=r"vsem: output columns \['NEE', 'Cv', 'Cs', 'CR'\] have non-finite values "
            r"from day 1 on.*params.json.*tauV"):
        assert _simulate("vsem", tmp_path / "par.csv", tmp_path / "params.json", out, "--allow-out-of-bounds",
                         "--allow-invalid-output") == 0
    got = pd.read_csv(out)
    # Cv = inf on day 1 makes G (hence CR) nan from day 2: CR is finite on day 1 only
    assert len(got) == 10 and not np.isfinite(got.Cv).any() and np.isfinite(got.CR).tolist() == [True] + [False] * 9


def test_dalec2_water_requires_water_columns(small_case, capsys):
    rc, err, _ = _run_bad(small_case, capsys, model="dalec2_water")
    assert rc == 2 and "missing columns ['precip_mm_d', 'vpd_kPa']" in err and "drivers.csv" in err


# ---------------------------------------------------------------------------------------------------
# atomic output


def test_failed_run_leaves_existing_output_alone(small_case, capsys):
    out = small_case / "out.csv"
    out.write_text("previous results\n")
    _edit_drivers(small_case / "drivers.csv", _set("tmin_degC", 3, "nan"))
    rc, _, _ = _run_bad(small_case, capsys)
    assert rc == 2 and out.read_text() == "previous results\n"
    assert sorted(p.name for p in small_case.iterdir()) == ["drivers.csv", "out.csv", "params.json"]


def test_successful_run_replaces_output_without_leftovers(small_case, capsys):
    out = small_case / "out.csv"
    out.write_text("previous results\n")
    rc, err, _ = _run_bad(small_case, capsys)
    assert rc == 0, err
    assert pd.read_csv(out).shape == (30, len(rio.DALEC_OUTPUT_COLUMNS))
    assert sorted(p.name for p in small_case.iterdir()) == ["drivers.csv", "out.csv", "params.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual mode, not mkstemp's private 0600


def test_missing_output_folder(small_case, capsys):
    rc = _simulate("dalec2", small_case / "drivers.csv", small_case / "params.json", small_case / "no" / "out.csv")
    err = capsys.readouterr().err
    assert rc == 2 and "folder" in err and "does not exist" in err


def test_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "table.csv"
    target.write_text("old\n")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(rio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        rio.write_table(target, {"x": [1.0, 2.0]})
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


# ---------------------------------------------------------------------------------------------------
# reference formats: exact round trips, required names


def test_drivers_and_params_round_trip_exactly(reference_dir, tmp_path):
    for src in sorted((reference_dir / "dalec").glob("*/drivers.csv")):
        d = rio.read_dalec_drivers(src)
        rio.write_dalec_drivers(tmp_path / "d.csv", d)
        assert (tmp_path / "d.csv").read_bytes() == src.read_bytes(), src
    par = reference_dir / "vsem" / "FR-Pue_2000-2004" / "par.csv"
    rio.write_vsem_par(tmp_path / "p.csv", rio.read_vsem_par(par))
    assert (tmp_path / "p.csv").read_bytes() == par.read_bytes()
    case = reference_dir / "dalec" / "FI-Ken_2018-2020" / "random_3"
    meta = json.loads((case / "params.json").read_text())
    p = rio.read_params(case / "params.json", meta["parameter_order"], need_lat=True)
    rio.write_params(tmp_path / "params.json", p.parameters, lat=p.lat)
    again = rio.read_params(tmp_path / "params.json", meta["parameter_order"], need_lat=True)
    assert again.parameters == meta["parameters"] and again.lat == meta["lat_deg"]
    with pytest.raises(ValueError, match=r"non-finite \['a'\]"):
        rio.write_params(tmp_path / "nan.json", {"a": float("nan")})


def test_required_parameters_match_reference_order(reference_dir):
    meta = json.loads((reference_dir / "dalec" / "FR-Pue_2000-2004" / "random_1" / "params.json").read_text())
    assert required_parameters(DALEC2()) == meta["parameter_order"]
    vmeta = json.loads((reference_dir / "vsem" / "FR-Pue_2000-2004" / "random_1" / "params.json").read_text())
    from bayeslsm.lsm import VSEM

    assert required_parameters(VSEM()) == vmeta["parameter_order"]
    assert required_parameters(DALEC2Water())[-1] == "w_init"


def test_anonymised_dates_are_allowed(small_case):
    _edit_drivers(small_case / "drivers.csv", lambda h, r: (h, [[""] + row[1:] for row in r]))
    d = rio.read_dalec_drivers(small_case / "drivers.csv")
    assert d.dates is None and d.date_strings() == [""] * 30
    _edit_drivers(small_case / "drivers.csv", _set("date", 3, "2000-01-04"))
    with pytest.raises(rio.DriverFileError, match="empty date"):
        rio.read_dalec_drivers(small_case / "drivers.csv")


# ---------------------------------------------------------------------------------------------------
# the rest of the command line


def test_demo_help_version_and_usage(capsys):
    assert main(["demo", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--chains", "--warmup", "--draws", "--seed", "--no-progress"):
        assert flag in text
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"bayeslsm {__version__}"
    assert main([]) == 2 and "simulate" in capsys.readouterr().err
    assert main(["simulate", "jules", "--drivers", "x", "--params", "y", "--out", "z"]) == 2
    assert "invalid choice: 'jules'" in capsys.readouterr().err
    assert main(["demo", "--chains", "0"]) == 2 and "positive whole number" in capsys.readouterr().err
    assert list(COMMANDS)[:2] == ["simulate", "demo"]


def test_demo_calls_run_demo(monkeypatch, tmp_path):
    import bayeslsm.demo

    seen = {}
    monkeypatch.setattr(bayeslsm.demo, "run_demo", lambda **kw: seen.update(kw) or {})
    assert main(["demo", "--out", str(tmp_path), "--chains", "2", "--warmup", "5", "--draws", "6", "--seed", "3",
                 "--no-progress"]) == 0
    assert seen == {"out": tmp_path, "chains": 2, "warmup": 5, "draws": 6, "seed": 3, "progress": False,
                    "sampler": "chees"}
    assert main(["demo", "--out", str(tmp_path), "--sampler", "nuts", "--no-progress"]) == 0
    assert seen["sampler"] == "nuts" and seen["chains"] is None  # run_demo picks the sampler's defaults

