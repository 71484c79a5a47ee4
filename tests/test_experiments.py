"""Experiments (models/experiments/*.toml): loading, validation errors, tiny end-to-end runs, CLI."""

from __future__ import annotations

import json
import textwrap
import warnings

import numpy as np
import pytest

from bayeslsm.diagnostics import SamplingWarning
from bayeslsm.experiments import (
    Experiment,
    HeldOutForcingWarning,
    ExperimentError,
    available_experiments,
    build_calibration,
    load_experiment,
    prepare_data,
    run_experiment,
)

FR_PUE_FILE = "FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv"
BE_BRA_FILE = "FLX_BE-Bra_PLUMBER_FULLSET_DD_2019_2020_2-3.csv"
FR_PUE_CAL = ["2003-01-01", "2003-08-31"]  # tiny runs: eight months calibrated, two held out
FR_PUE_VAL = ["2003-09-01", "2003-10-31"]

SKILL_KEYS = {"rmse", "mean_error", "centred_rmse", "obs_mean", "coverage", "interval_width", "n_obs", "n_draws", "n_draws_nonfinite"}


# ------------------------------------------------------------------------------------------------
# shipped experiments


def test_shipped_experiments_load_and_validate():
    names = available_experiments()
    assert {"fr-pue", "pft-hierarchy"} <= set(names)
    for name in names:
        exp = load_experiment(name)
        assert isinstance(exp, Experiment) and exp.name == name
        assert exp.path is not None and exp.path.name == f"{name}.toml"
        assert exp.validation is not None and exp.validation.start > exp.calibration.end


def test_fr_pue_experiment_content():
    exp = load_experiment("fr-pue")
    assert exp.model == "dalec2_water"
    assert (str(exp.calibration), str(exp.validation)) == ("2000-01-01..2009-12-31", "2010-01-01..2014-12-31")
    assert [s.name for s in exp.streams] == ["NEE", "LE", "LAI"]
    le = exp.streams[1].config
    assert le.bias.kind == "multiplicative"
    assert exp.streams[2].resample and exp.streams[2].config.support == "8D-year"
    assert 10 <= len(exp.free) <= 13
    (site,) = exp.sites
    assert site.id == "FR-Pue" and site.file == FR_PUE_FILE
    assert isinstance(site.diurnal_range, tuple) and len(site.diurnal_range) == 12


def test_pft_hierarchy_experiment_content():
    exp = load_experiment("pft-hierarchy")
    assert len(exp.sites) == 30
    assert sum(s.era_file is not None for s in exp.sites) == 4  # the ICOS sites
    assert [s.name for s in exp.streams] == ["GPP", "LE", "LAI"]
    assert set(exp.hierarchy.params) == {"ceff", "clma", "g_max"} and exp.hierarchy.mode == "partial"
    assert exp.data.unknown_pft == "exclude" and exp.data.incomplete == "exclude"
    assert exp.validation.end == np.datetime64("2020-09-30")
    # the redesign after the 2026-11-24 run (issue 9): GF-Guy (no GPP) left out, clma and g_max pooled at
    # PFT level only, one LE multiplier per site partially pooled
    assert next(s for s in exp.sites if s.id == "GF-Guy").exclude
    assert set(exp.hierarchy.pft_only) == {"clma", "g_max"}
    le = next(s for s in exp.streams if s.name == "LE").config.bias
    assert le.kind == "multiplicative" and le.pooling == "site"


# ------------------------------------------------------------------------------------------------
# named errors on small bad files

VALID = f"""
[experiment]
name = "tiny"
model = "dalec2_water"

[periods]
calibration = ["2003-01-01", "2003-12-31"]
validation = ["2004-01-01", "2004-06-30"]

[[sites]]
id = "FR-Pue"
file = "{FR_PUE_FILE}"
diurnal_range = 8.0

[[streams]]
name = "NEE"

[parameters]
free = ["ceff", "clma"]

[sampler]
chains = 1
"""


def _write(tmp_path, text, name="exp.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_small_valid_file_loads(tmp_path):
    exp = load_experiment(_write(tmp_path, VALID))
    assert exp.name == "tiny" and exp.sampler.chains == 1 and exp.sampler.warmup == 500
    assert exp.sites[0].diurnal_range == 8.0


@pytest.mark.parametrize(
    "old, new, key, fragment",
    [
        ('name = "tiny"', 'name = "tiny"\ncolour = "red"', "experiment", "unknown key(s) ['colour']"),
        ("[sampler]", "[samplers]", None, "unknown key(s) ['samplers']"),
        ('model = "dalec2_water"', 'model = "dalec3"', "experiment.model", "unknown model 'dalec3'"),
        ('["2003-01-01", "2003-12-31"]', '["2003-01-01", "2003-13-31"]', "periods.calibration", "cannot parse"),
        ('["2003-01-01", "2003-12-31"]', '["2003-12-31", "2003-01-01"]', "periods.calibration", "reversed"),
        ('["2004-01-01", "2004-06-30"]', '["2003-06-01", "2004-06-30"]', "periods.validation", "overlaps"),
        ('["2004-01-01", "2004-06-30"]', '["2004-01-01"]', "periods.validation", "[start, end]"),
        ('name = "NEE"', 'name = "SWC"', "streams[0]", "unknown stream name"),
        ('name = "NEE"', 'name = "C_woo"', "streams[0].name", "unknown stream 'C_woo'"),
        ('name = "NEE"', 'name = "NEE"\nbias = "sideways"', "streams[0]", "unknown bias kind"),
        ('name = "NEE"', 'name = "NEE"\nresample = true', "streams[0].resample", "composite support"),
        ('free = ["ceff", "clma"]', 'free = ["ceff", "vcmax"]', "parameters.free", "unknown parameter 'vcmax'"),
        ('free = ["ceff", "clma"]', 'free = ["ceff", "clma"]\nfixed = {ceff = 50.0}', "parameters.fixed.ceff",
         "both free and fixed"),
        ('free = ["ceff", "clma"]', 'free = ["ceff", "clma"]\nfixed_by_pft = {clspan = {XYZ = 2.0}}',
         "parameters.fixed_by_pft.clspan.XYZ", "unknown PFT"),
        ("[sampler]", '[hierarchy]\nparams = ["g_max"]\n[sampler]', "hierarchy.params", "not in parameters.free"),
        ("chains = 1", 'chains = 1\nmethod = "mcmc"', "sampler.method", "expected one of"),
        ("chains = 1", 'chains = 1\nkernel = "mala"', "sampler.kernel", "expected one of"),
        ("chains = 1", "chains = 0", "sampler.chains", ">= 1"),
        (f'file = "{FR_PUE_FILE}"', 'file = "no_such_file.csv"', "sites[0].file", "neither a registered data file"),
        ('id = "FR-Pue"', 'id = "FR-Pue"\naltitude = 270', "sites[0]", "unknown key(s) ['altitude']"),
        ('id = "FR-Pue"', 'id = "FR-Pue"\npft = "SAV"', "sites[0].pft", "no priors"),
        ("diurnal_range = 8.0", "diurnal_range = [1.0, 2.0]", "sites[0].diurnal_range", "12 monthly values"),
        ('name = "tiny"', 'name = "tiny"\nspinup = "forever"', "experiment.spinup", "expected one of"),
        ('name = "tiny"', 'name = "tiny"\nedc = ["be_nice"]', "experiment.edc", "unknown EDC"),
    ],
)
def test_named_errors(tmp_path, old, new, key, fragment):
    assert old in VALID
    path = _write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    err = info.value
    assert err.path == path and str(path) in str(err)
    assert err.key == key
    assert fragment in str(err)


def test_invalid_toml_names_the_file(tmp_path):
    path = _write(tmp_path, VALID + "\n[[streams]\n")
    with pytest.raises(ExperimentError, match="not valid TOML") as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_missing_experiment():
    with pytest.raises(FileNotFoundError, match="shipped"):
        load_experiment("no-such-experiment")


def test_overrides_are_validated(tmp_path):
    exp = load_experiment(_write(tmp_path, VALID))
    with pytest.raises(ExperimentError, match="unknown override"):
        exp.with_overrides({"chain": 2})
    with pytest.raises(ExperimentError, match="not included sites"):
        exp.with_overrides({"sites": ["XX-Abc"]})
    with pytest.raises(ExperimentError, match="overlaps"):
        exp.with_overrides({"validation": ["2003-06-01", "2003-07-01"]})
    short = exp.with_overrides({"chains": 2, "draws": 7, "validation": None})
    assert (short.sampler.chains, short.sampler.draws, short.validation) == (2, 7, None)


def test_cli_run_bad_experiment_is_one_line(tmp_path, capsys):
    from bayeslsm.cli import main

    path = _write(tmp_path, VALID.replace('model = "dalec2_water"', 'model = "dalec3"'))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown model 'dalec3'" in err and str(path) in err


def test_resume_needs_a_checkpointed_sampler(tmp_path, capsys):
    """--resume continues ChEES checkpoints only; it is refused, by name, before any data is read."""
    from bayeslsm.cli import main

    path = _write(tmp_path, VALID)
    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoint").mkdir()
    with pytest.raises(ExperimentError, match="expected method = 'chees'; found 'nuts'"):
        run_experiment(path, out, resume=True)
    # a folder holding a checkpoint is not overwritten by accident: the message points to --resume
    assert main(["run", str(path), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(out), "--resume", "--overwrite"]) == 2
    assert "give one of them" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# data handling (needs ../shared/data)


def test_zero_diurnal_range_must_be_handled(tmp_path, data_dir):
    path = _write(tmp_path, VALID.replace("diurnal_range = 8.0\n", ""))
    exp = load_experiment(path)
    with pytest.raises(ExperimentError, match="no diurnal") as info:
        prepare_data(exp)  # the reader's DataQualityWarning is consumed: the error says what to do
    assert "diurnal_range" in info.value.key


def test_diurnal_range_applied(tmp_path, data_dir):
    exp = load_experiment(_write(tmp_path, VALID))
    data = prepare_data(exp)
    f, _ = data.calibration
    assert np.allclose(f["tmax"] - f["tmin"], 8.0)
    assert any("diurnal" in n for n in data.notes["FR-Pue"])


def test_diurnal_range_refused_where_the_file_has_one(tmp_path, data_dir):
    text = (VALID.replace('id = "FR-Pue"', 'id = "BE-Bra"').replace(FR_PUE_FILE, BE_BRA_FILE)
            .replace("2003", "2019").replace("2004", "2020").replace('name = "NEE"', 'name = "GPP"')
            .replace("[data]", ""))
    text = text.replace('[[sites]]', '[data]\nqc_missing = "ignore"\n\n[[sites]]', 1)
    with pytest.raises(ExperimentError, match="has a diurnal temperature range"):
        prepare_data(load_experiment(_write(tmp_path, text)))


def _two_sites(extra_site: str, data_opts: str) -> str:
    return f"""
[experiment]
name = "two"
model = "dalec2_water"

[periods]
calibration = ["2019-01-01", "2019-12-31"]
validation = ["2020-01-01", "2020-03-31"]

[data]
qc_missing = "ignore"
{data_opts}

[[sites]]
id = "BE-Bra"
file = "{BE_BRA_FILE}"

{extra_site}

[[streams]]
name = "GPP"

[parameters]
free = ["ceff"]
"""


def test_unknown_pft_excluded_or_refused(tmp_path, data_dir):
    site = '[[sites]]\nid = "BE-Lon"\nfile = "FLX_BE-Lon_PLUMBER_FULLSET_DD_2019_2020_2-3.csv"\npft = "WET"'
    exp = load_experiment(_write(tmp_path, _two_sites(site, 'unknown_pft = "exclude"')))
    data = prepare_data(exp)
    assert "WET" in data.excluded["BE-Lon"]
    assert list(data.calibration[0]["site"].values) == ["BE-Bra"]
    with pytest.raises(ExperimentError, match="no priors"):
        load_experiment(_write(tmp_path, _two_sites(site, ""), "b.toml"))
    # a documented mapping instead
    exp = load_experiment(_write(tmp_path, _two_sites(site, 'pft_map = {WET = "GRA"}'), "c.toml"))
    data = prepare_data(exp)
    assert list(data.calibration[0]["pft"].values) == ["MF", "GRA"]


def test_incomplete_validation_forcing_is_listed(tmp_path, data_dir):
    site = '[[sites]]\nid = "DE-Gri"\nfile = "FLX_DE-Gri_PLUMBER_FULLSET_DD_2019_2020_2-3.csv"'
    exp = load_experiment(_write(tmp_path, _two_sites(site, 'incomplete = "exclude"')))
    # said before any sampling, with a named category (issue 9)
    with pytest.warns(HeldOutForcingWarning, match="DE-Gri"):
        data = prepare_data(exp)
    assert "DE-Gri" in data.not_validated and not data.excluded
    assert list(data.validation[0]["site"].values) == ["BE-Bra"]
    assert list(data.calibration[0]["site"].values) == ["BE-Bra", "DE-Gri"]
    # incomplete = "error" (the default): the same finding stops the run before sampling
    with pytest.raises(ExperimentError, match="DE-Gri.*cannot be validated"):
        prepare_data(load_experiment(_write(tmp_path, _two_sites(site, ""), "b.toml")))


def test_lai_resampled_onto_the_modis_grid(data_dir):
    exp = load_experiment("fr-pue").with_overrides({"calibration": ["2003-01-01", "2003-12-31"],
                                                    "validation": ["2004-01-01", "2004-01-31"]})
    _, obs = prepare_data(exp).calibration
    lai = obs["LAI"].isel(site=0)
    stamps = lai.dropna("time")["time"].values.astype("datetime64[D]")
    doy = (stamps - stamps.astype("datetime64[Y]")).astype(int) + 1
    assert stamps.size == 46 and np.all((doy - 1) % 8 == 0)


# ------------------------------------------------------------------------------------------------
# tiny end-to-end runs (slow)


def _run_quietly(fn, *args, **kwargs):
    """Run ``fn``; NUTS with ~20 warm-up iterations may warn (SamplingWarning), nothing else may."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # ArviZ's one-time notice on first import (ignored in pyproject.toml too) is not the run's warning
        warnings.filterwarnings("ignore", message=".*ArviZ is undergoing a major refactor", category=FutureWarning)
        out = fn(*args, **kwargs)
    others = [w for w in caught if not issubclass(w.category, (SamplingWarning, HeldOutForcingWarning))]
    assert not others, [f"{w.category.__name__}: {w.message}" for w in others]
    return out


def _check_outputs(out, streams, hierarchical=False):
    from bayeslsm.infer import load

    for f in ("posterior.nc", "skill.json", "report.md", "summary.json", "trace.png", "prediction.nc"):
        assert (out / f).is_file(), f
    skill = json.loads((out / "skill.json").read_text())
    assert set(skill["streams"]) == set(streams)
    for name in streams:
        for period in ("calibration", "validation"):
            for group in ("prior", "posterior"):
                m = skill["streams"][name][period][group]
                assert SKILL_KEYS <= set(m)
                if m["n_obs"]:
                    assert m["rmse"] >= 0 and 0 <= m["coverage"] <= 1
    assert skill["sampling"]["n_chains"] == 1
    report = (out / "report.md").read_text()
    assert "## Held-out skill" in report and "RMSE posterior" in report
    idata = load(out / "posterior.nc")
    info = json.loads(idata.posterior.attrs["experiment"])
    assert info["name"] == skill["experiment"]
    if hierarchical:
        assert (out / "forest.png").is_file() and (out / "shrinkage_ceff.png").is_file()
        assert "Partial pooling: shrinkage" in report
    return skill, idata


@pytest.fixture(scope="module")
def fr_pue_run(tmp_path_factory, data_dir):
    from bayeslsm.cli import main

    out = tmp_path_factory.mktemp("fr-pue")
    status = _run_quietly(main, ["run", "fr-pue", "--out", str(out), "--chains", "1", "--warmup", "20", "--draws",
                                 "20", "--max-tree-depth", "5", "--calibration", *FR_PUE_CAL, "--validation",
                                 *FR_PUE_VAL, "--no-progress"])
    assert status == 0
    return out


@pytest.mark.slow
def test_fr_pue_tiny_run(fr_pue_run):
    skill, idata = _check_outputs(fr_pue_run, ["NEE", "LE", "LAI"])
    # the preflight ran before sampling (bayeslsm run) and the posterior annual sums come with intervals
    pre = json.loads((fr_pue_run / "preflight.json").read_text())
    assert len(pre["eigenvalues"]) == len(pre["labels"]) >= 11 and "log ceff" in pre["labels"]
    nee = skill["annual"]["NEE"]
    assert [r["year"] for r in nee] == [2003] and nee[0]["lower"] <= nee[0]["mean"] <= nee[0]["upper"]
    assert skill["validation_period"] == FR_PUE_VAL
    assert skill["streams"]["NEE"]["validation"]["posterior"]["n_obs"] > 40
    assert "FR-Pue" in json.loads(idata.posterior.attrs["experiment"])["data_notes"]


@pytest.mark.slow
def test_heldout_pass_continues_the_calibration(fr_pue_run):
    """Over the calibration days, the held-out pass reproduces the calibration's own posterior predictions."""
    from bayeslsm.infer import load
    from bayeslsm.infer.predict import predict

    idata = load(fr_pue_run / "posterior.nc")
    exp = load_experiment("fr-pue").with_overrides({"calibration": FR_PUE_CAL, "validation": FR_PUE_VAL})
    vf, vo = prepare_data(exp).validation
    cal = build_calibration(exp, vf, vo, edc=False)
    pred = predict(cal, idata, draws=20, spinup_days=exp.calibration.n_days, batch=10)
    rec = {f"_{k}": pred[k].values for k in pred.data_vars}
    pp = idata.posterior_predictive
    for sd in cal.streams:
        name = sd.config.name
        ref = pp[f"{name}_model"].values.reshape(20, -1)
        times = pp[f"{name}_time"].values.astype("datetime64[D]")
        idx = np.searchsorted(sd.support_time, times)
        assert np.array_equal(sd.support_time[idx], times)
        # same draws, same spin-up, same days: equal up to the resolution posterior.nc stores predictions
        # with (bayeslsm.infer.results.save: a fiftieth of the stream's noise sd; half of it is the bound)
        half = pp[f"{name}_model"].attrs["resolution"] / 2
        np.testing.assert_allclose(rec[f"_{name}_model"][:, 0, idx], ref, rtol=0, atol=half * (1 + 1e-6) + 1e-9)


@pytest.mark.slow
def test_cli_report_rewrites_the_report(fr_pue_run, tmp_path):
    from bayeslsm.cli import main

    out = tmp_path / "again"
    assert _run_quietly(main, ["report", str(fr_pue_run / "posterior.nc"), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "## Held-out skill" in text and "| NEE |" in text


@pytest.mark.slow
def test_pft_hierarchy_tiny_run(tmp_path, data_dir):
    from bayeslsm.experiments import run_experiment

    res = _run_quietly(run_experiment, "pft-hierarchy", tmp_path, preflight=False, overrides={
        "method": "nuts", "chains": 1, "warmup": 20, "draws": 20, "prior_draws": 20, "skill_draws": 20,
        "n_cycles": 1,
        "max_tree_depth": 5,  # bounds the cost of an unadapted sampler (a test of the pipeline, not of NUTS)
        # MF (FluxDataKit), DBF (ICOS with ERA gap filling) and GRA (ICOS, no 2020 precipitation)
        "sites": ["BE-Bra", "IT-BFt", "FR-Tou"],
        "calibration": ["2019-04-01", "2019-07-31"], "validation": ["2020-04-01", "2020-05-31"],
    })
    skill, idata = _check_outputs(tmp_path, ["GPP", "LE", "LAI"], hierarchical=True)
    assert "FR-Tou" in skill["sites_not_validated"] and "precip" in skill["sites_not_validated"]["FR-Tou"]
    assert skill["sites"] == ["BE-Bra", "IT-BFt"]
    assert set(skill["streams"]["GPP"]["per_site"]) == {"BE-Bra", "IT-BFt"}
    assert idata.posterior["ceff"].dims[-1] == "site" and list(idata.posterior["ceff_pft"]["pft"].values) == [
        "DBF", "GRA", "MF"]
    assert res["wall_seconds"]["total"] > 0
