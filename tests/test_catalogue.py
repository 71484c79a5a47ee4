"""Parameter catalogues (models/*.toml): loading, validation, transforms, agreement with the models."""

from __future__ import annotations

import importlib
import importlib.resources
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslsm.priors import (
    DISTRIBUTIONS,
    Catalogue,
    CatalogueError,
    ParameterSpec,
    PriorSpec,
    available_catalogues,
    load_catalogue,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("vsem", "dalec2", "dalec2_water")
REQUIRED_PFTS = ("ENF", "EBF", "DBF", "MF", "GRA", "CRO")
PERIOD = 365.25  # d; d_onset and d_fall act only modulo this (DALEC_REFERENCE.md §3)


@pytest.fixture(scope="module", params=SHIPPED)
def catalogue(request) -> Catalogue:
    return load_catalogue(request.param)


# --- shipped catalogues ---------------------------------------------------------------------------


def test_every_shipped_catalogue_is_packaged():
    assert set(SHIPPED) <= set(available_catalogues())


def test_shipped_catalogue_loads_and_is_consistent(catalogue):
    assert catalogue.model in SHIPPED
    assert catalogue.parameters, "no parameters"
    for name, spec in catalogue.parameters.items():
        assert spec.name == name
        assert spec.description.strip() and spec.unit.strip() and spec.source.strip()
        assert spec.contains(spec.default), name
        if spec.reference_range is not None:  # a departure from the cited range must say why
            assert spec.note, f"{name}: bounds differ from reference_range but there is no note"
    # every prior names its source, and every prior table is checked against the bounds at load time
    for table in [catalogue.global_priors, *catalogue.pft_priors.values()]:
        for prior in table.values():
            assert prior.source.strip()
            assert prior.dist in DISTRIBUTIONS


def test_catalogues_are_immutable():
    cat = load_catalogue("dalec2")
    with pytest.raises(TypeError):
        cat.parameters["clma"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        cat.model = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cat.parameters["clma"].default = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("model", ["dalec2", "dalec2_water"])
def test_dalec_pft_tables(model):
    cat = load_catalogue(model)
    assert set(REQUIRED_PFTS) <= set(cat.pfts)
    for pft in REQUIRED_PFTS:
        assert cat.pft_priors[pft], f"{pft} prior table is empty"
    # a global entry exists for every DALEC2 parameter, so nothing silently falls back to uniform
    assert set(load_catalogue("dalec2").parameters) <= set(cat.global_priors)


def test_prior_lookup_order():
    cat = load_catalogue("dalec2")
    # PFT entry first
    assert cat.prior_for("clma", "ENF") is cat.pft_priors["ENF"]["clma"]
    # then the global table (ENF has no f_fol entry)
    assert "f_fol" not in cat.pft_priors["ENF"]
    assert cat.prior_for("f_fol", "ENF") is cat.global_priors["f_fol"]
    assert cat.prior_for("Theta") is cat.global_priors["Theta"]
    # then uniform over the bounds
    bare = Catalogue("m", {"a": ParameterSpec("a", "d", "1", 0.0, 1.0, 0.5, "logit", "s")}, {"X": {}})
    assert bare.prior_for("a", "X").dist == "uniform"
    assert bare.prior_for("a").dist == "uniform"
    with pytest.raises(CatalogueError, match=r"no priors for PFT 'XYZ'.*ENF"):
        cat.prior_for("clma", "XYZ")
    with pytest.raises(CatalogueError, match=r"no parameter 'nope'"):
        cat.prior_for("nope", "ENF")


def test_defaults_by_kind(catalogue):
    process = catalogue.defaults("process")
    pools = catalogue.defaults("initial_pool")
    everything = catalogue.defaults()
    assert set(process).isdisjoint(pools)
    assert {**process, **pools} == everything
    assert list(everything) == list(catalogue.parameters)  # catalogue (model vector) order
    assert set(catalogue.state_fields) == set(pools)
    assert all(isinstance(v, float) for v in everything.values())
    with pytest.raises(CatalogueError, match="kind"):
        catalogue.defaults("pool")


def test_dalec2_names_and_order():
    cat = load_catalogue("dalec2")
    assert cat.names("process") == (
        "theta_min", "f_auto", "f_fol", "f_roo", "clspan", "theta_woo", "theta_roo", "theta_lit", "theta_som",
        "Theta", "ceff", "d_onset", "f_lab", "cronset", "d_fall", "crfall", "clma",
    )
    assert cat.names("initial_pool") == ("clab_init", "cf_init", "cr_init", "cw_init", "cl_init", "cs_init")


def test_vsem_names_and_order():
    cat = load_catalogue("vsem")
    # BayesianTools vector order: tauS comes before tauR (VSEM_REFERENCE.md §2)
    assert cat.names() == ("KEXT", "LAR", "LUE", "GAMMA", "tauV", "tauS", "tauR", "Av", "Cv", "Cs", "Cr")
    assert cat.names("initial_pool") == ("Cv", "Cs", "Cr")


def test_water_catalogue_extends_dalec2():
    base = load_catalogue("dalec2")
    water = load_catalogue("dalec2_water")
    assert water.extends == "dalec2"
    assert list(water.parameters)[: len(base.parameters)] == list(base.parameters)
    for name, spec in base.parameters.items():
        assert water.parameters[name] == spec
    assert len(water.parameters) > len(base.parameters)
    for pft in base.pfts:
        for name, prior in base.pft_priors[pft].items():
            assert water.pft_priors[pft][name] == prior


# --- agreement with the reference documents and golden parameter sets ----------------------------


def _markdown_table(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def _num(s: str) -> float:
    return float(s.replace("−", "-").replace(" ", ""))


def test_dalec2_bounds_are_cardamom_ranges(reference_dir):
    """Bounds equal DALEC_REFERENCE.md §3's CARDAMOM column, or it is recorded in `reference_range`."""
    rows = _markdown_table((reference_dir / "DALEC_REFERENCE.md").read_text(encoding="utf-8"), "## 3. Parameters")
    cat = load_catalogue("dalec2")
    assert [r[1] for r in rows] == list(cat.parameters)
    departures = []
    for r in rows:
        name, rng = r[1], r[4]
        lo, hi = (_num(x) for x in rng.split(" – "))
        spec = cat.parameters[name]
        if spec.reference_range is None:
            assert (spec.lower, spec.upper) == (lo, hi), name
        else:
            assert spec.reference_range == (lo, hi), name
            departures.append(name)
    assert sorted(departures) == ["ceff", "d_fall", "d_onset", "theta_som"]


def test_vsem_bounds_and_defaults_are_bayesiantools(reference_dir):
    rows = _markdown_table((reference_dir / "VSEM_REFERENCE.md").read_text(encoding="utf-8"), "## 2. Parameters")
    cat = load_catalogue("vsem")
    assert [r[1] for r in rows] == list(cat.parameters)
    for r in rows:
        spec = cat.parameters[r[1]]
        assert (spec.default, spec.lower, spec.upper) == (_num(r[4]), _num(r[5]), _num(r[6])), r[1]


def _golden(reference_dir: Path, pattern: str) -> list[tuple[str, dict]]:
    out = []
    for p in sorted(reference_dir.glob(pattern)):
        out.append((str(p.relative_to(reference_dir)), json.loads(p.read_text())["parameters"]))
    assert out, f"no golden parameter sets match {pattern}"
    return out


def test_dalec2_defaults_are_the_golden_edinburgh_mean(reference_dir):
    cat = load_catalogue("dalec2")
    for case, params in _golden(reference_dir, "dalec/*/edinburgh_mean/params.json"):
        assert cat.defaults() == params, case  # exact: the defaults are the golden set, digit for digit


def test_vsem_defaults_are_the_golden_default(reference_dir):
    cat = load_catalogue("vsem")
    for case, params in _golden(reference_dir, "vsem/*/default/params.json"):
        assert cat.defaults() == params, case


def test_golden_random_sets_are_inside_the_bounds(reference_dir):
    """Random golden sets were drawn within CARDAMOM / BayesianTools ranges; phases reduce mod 365.25."""
    for model, pattern in (("dalec2", "dalec/*/random_*/params.json"), ("vsem", "vsem/*/random_*/params.json")):
        cat = load_catalogue(model)
        for case, params in _golden(reference_dir, pattern):
            assert set(params) == set(cat.parameters), case
            for name, value in params.items():
                if name in ("d_onset", "d_fall"):
                    value = math.fmod(value, PERIOD)
                assert cat.parameters[name].contains(value), (case, name, value)


# --- transforms ------------------------------------------------------------------------------------


def _interior_grid(spec: ParameterSpec, n: int = 41) -> np.ndarray:
    """Points from 1e-6 of the width inside each bound (log-spaced for log transforms)."""
    lo, hi = spec.lower, spec.upper
    if spec.transform == "log":
        return np.geomspace(lo * (1 + 1e-6), hi, n)
    if spec.transform == "logit":
        u = np.concatenate([[1e-6], np.linspace(0.0, 1.0, n)[1:-1], [1 - 1e-6]])
        return lo + (hi - lo) * u
    return np.linspace(lo, hi, n)


# Round-trip tolerance: float64 eps = 2.2e-16.  x -> z -> x loses a few eps per operation (log, exp,
# sigmoid, the two subtractions) times the conditioning of the round trip, which on this grid is at
# most ~|z| + |log x| + 2 < 40 (|z| <= 14 at 1e-6 of the width from a bound; |log x| <= 13 for the
# smallest rate, 1e-6 d-1).  So the error is below ~1e-14; 1e-12 leaves a factor of ~100.
RT_RTOL = 1e-12


def test_transforms_round_trip_and_are_monotone(catalogue):
    for name, spec in catalogue.parameters.items():
        x = _interior_grid(spec)
        z = spec.to_unconstrained(x)
        assert z.dtype == jnp.float64, name
        assert bool(jnp.all(jnp.isfinite(z))), name
        back = np.asarray(spec.from_unconstrained(z))
        np.testing.assert_allclose(back, x, rtol=RT_RTOL, atol=0, err_msg=name)
        assert np.all(np.diff(np.asarray(z)) > 0), f"{name}: to_unconstrained is not increasing"
        zz = np.linspace(-30.0, 30.0, 121) if spec.transform == "logit" else np.log(x)
        xx = np.asarray(spec.from_unconstrained(zz))
        assert np.all(np.diff(xx) >= 0), f"{name}: from_unconstrained is not non-decreasing"
        if spec.transform == "logit":  # never leaves the closed interval, even where sigmoid saturates
            assert np.all((xx >= spec.lower) & (xx <= spec.upper)), name
        # the default maps to a finite z and back
        z0 = spec.to_unconstrained(spec.default)
        assert math.isfinite(float(z0))
        assert float(spec.from_unconstrained(z0)) == pytest.approx(spec.default, rel=RT_RTOL, abs=0)


@pytest.mark.parametrize("transform, lower, upper", [("log", 1e-5, 1e-2), ("logit", 0.0, 400.0),
                                                     ("logit", 365.25, 1461.0), ("identity", -5.0, 5.0)])
def test_transform_derivatives(transform, lower, upper):
    """log|dx/dz| equals the log of jax.grad of from_unconstrained; gradients are finite."""
    spec = ParameterSpec("p", "d", "1", lower, upper, 0.5 * (lower + upper), transform, "s")
    zs = np.linspace(-8.0, 8.0, 17) if transform != "log" else np.log(np.geomspace(lower, upper, 17))
    dxdz = jax.vmap(jax.grad(spec.from_unconstrained))(jnp.asarray(zs))
    # jax.grad of from_unconstrained is exact up to rounding of its own ops: a few eps
    np.testing.assert_allclose(np.asarray(spec.log_abs_det_jacobian(zs)), np.log(np.abs(np.asarray(dxdz))),
                               rtol=1e-12, atol=1e-12)
    dzdx = jax.vmap(jax.grad(spec.to_unconstrained))(spec.from_unconstrained(jnp.asarray(zs)))
    # inverse-function rule dz/dx * dx/dz = 1 (relative rounding of both derivatives: ~1e-15)
    np.testing.assert_allclose(np.asarray(dzdx * dxdz), 1.0, rtol=1e-10)


def test_transform_accepts_python_numbers_and_ints():
    spec = load_catalogue("dalec2").parameters["cronset"]  # logit on [10, 100]
    assert float(spec.to_unconstrained(55)) == pytest.approx(0.0, abs=1e-15)
    assert float(spec.from_unconstrained(0)) == 55.0


# --- validation of malformed catalogues -------------------------------------------------------------

GOOD_PARAM = """
[parameters.{name}]
description = "a parameter"
unit = "d-1"
lower = {lower}
upper = {upper}
default = {default}
transform = "{transform}"
source = "a source"
"""

HEAD = '[catalogue]\nmodel = "toy"\ndescription = "toy catalogue"\n'


def _write(tmp_path: Path, body: str, name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _param(name="k", lower=0.1, upper=1.0, default=0.5, transform="logit", drop=(), extra=""):
    text = GOOD_PARAM.format(name=name, lower=lower, upper=upper, default=default, transform=transform)
    lines = [ln for ln in text.splitlines() if not any(ln.startswith(f"{d} =") for d in drop)]
    return "\n".join(lines) + "\n" + extra


BAD_CASES = {
    "lower_above_upper": (_param(lower=2.0, upper=1.0, default=1.5), r"'k'.*`lower` must be < `upper`"),
    "equal_bounds_logit": (_param(lower=1.0, upper=1.0, default=1.0), r"'k'.*`lower` must be < `upper`.*'logit'"),
    "equal_bounds_log": (_param(lower=1.0, upper=1.0, default=1.0, transform="log"),
                         r"'k'.*`lower` must be < `upper`.*'log'"),
    "default_outside": (_param(default=5.0), r"'k'.*`default` 5.0 is outside.*\(0.1, 1.0\)"),
    "default_on_logit_bound": (_param(default=1.0), r"'k'.*`default` 1.0 is outside the open interval"),
    "unknown_transform": (_param(transform="sqrt"), r"'k'.*unknown `transform` 'sqrt'.*'log', 'logit', 'identity'"),
    "log_lower_zero": (_param(lower=0.0, transform="log"), r"'k'.*transform 'log' needs `lower` > 0; found lower=0.0"),
    "log_lower_negative": (_param(lower=-1.0, transform="log"), r"'k'.*transform 'log' needs `lower` > 0"),
    "missing_unit": (_param(drop=("unit",)), r"'k'.*missing required key\(s\) \['unit'\]"),
    "missing_description": (_param(drop=("description",)), r"'k'.*missing required key\(s\) \['description'\]"),
    "missing_source": (_param(drop=("source",)), r"'k'.*missing required key\(s\) \['source'\]"),
    "empty_unit": (_param().replace('unit = "d-1"', 'unit = "  "'), r"'k'.*`unit` must be a non-empty string"),
    "bound_not_number": (_param(lower='"low"'), r"'k'.*`lower` must be a number; found 'low'"),
    "unknown_key": (_param(extra='defualt = 0.3\n'), r"'k'.*unknown key\(s\) \['defualt'\]"),
    "unknown_kind": (_param(extra='kind = "pool"\n'), r"'k'.*unknown `kind` 'pool'"),
    "pool_without_state": (_param(extra='kind = "initial_pool"\n'), r"'k'.*kind = 'initial_pool' needs `state`"),
    "unknown_dist": (_param() + '[priors.ENF]\nk = {dist = "gamma", source = "s"}\n',
                     r"\[priors.ENF\] 'k'.*unknown prior distribution `dist` = 'gamma'"),
    "prior_for_unknown_parameter": (_param() + '[priors.DBF]\nkk = {dist = "uniform", source = "s"}\n',
                                    r"\[priors.DBF\] 'kk'.*not in the catalogue.*\['k'\]"),
    "median_outside": (_param() + '[priors.ENF]\nk = {dist = "lognormal", median = 3.0, sigma_log = 0.2, source = "s"}\n',
                       r"\[priors.ENF\] 'k'.*prior median 3.0 is outside"),
    "global_median_outside": (_param() + '[priors.global]\nk = {dist = "lognormal", median = 1.0, sigma_log = 0.2, source = "s"}\n',
                              r"\[priors.global\] 'k'.*prior median 1.0 is outside the parameter's open interval"),
    "mean_outside": (_param() + '[priors.GRA]\nk = {dist = "truncnormal", mean = -1.0, sd = 0.2, source = "s"}\n',
                     r"\[priors.GRA\] 'k'.*prior mean -1.0 is outside"),
    "prior_without_source": (_param() + '[priors.ENF]\nk = {dist = "uniform"}\n', r"\[priors.ENF\] 'k'.*missing `source`"),
    "lognormal_missing_sigma": (_param() + '[priors.ENF]\nk = {dist = "lognormal", median = 0.5, source = "s"}\n',
                                r"\[priors.ENF\] 'k'.*needs \['median', 'sigma_log'\]; missing \['sigma_log'\]"),
    "negative_sigma": (_param() + '[priors.ENF]\nk = {dist = "lognormal", median = 0.5, sigma_log = -1.0, source = "s"}\n',
                       r"\[priors.ENF\] 'k'.*`sigma_log` must be > 0"),
    "uniform_with_infinite_bounds": (_param(lower="-inf", upper="inf", default=0.0, transform="identity")
                                     + '[priors.ENF]\nk = {dist = "uniform", source = "s"}\n',
                                     r"\[priors.ENF\] 'k'.*'uniform' prior needs finite bounds"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_malformed_catalogue_raises_named_error(tmp_path, case):
    body, pattern = BAD_CASES[case]
    path = _write(tmp_path, HEAD + body)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    msg = str(info.value)
    assert str(path) in msg, f"message does not name the file: {msg}"
    assert re.search(pattern, msg), f"{msg!r} does not match {pattern!r}"


def test_catalogue_error_is_a_value_error():
    assert issubclass(CatalogueError, ValueError)


def test_good_toy_catalogue_loads(tmp_path):
    path = _write(tmp_path, HEAD + _param() + _param(name="r", lower=1e-3, upper=1.0, default=0.01, transform="log"))
    cat = load_catalogue(path)
    assert cat.names() == ("k", "r") and cat.source == str(path.resolve())
    assert cat.pfts == ()


def test_unknown_extends(tmp_path):
    path = _write(tmp_path, HEAD + 'extends = "dalec3"\n' + _param())
    with pytest.raises(CatalogueError, match=r"toy.toml: unknown `extends` = 'dalec3'.*'dalec2'"):
        load_catalogue(path)


def test_circular_extends(tmp_path):
    _write(tmp_path, '[catalogue]\nmodel = "a"\ndescription = "a"\nextends = "b"\n' + _param(), "a.toml")
    _write(tmp_path, '[catalogue]\nmodel = "b"\ndescription = "b"\nextends = "a"\n' + _param(name="j"), "b.toml")
    with pytest.raises(CatalogueError, match=r"circular `extends`"):
        load_catalogue(tmp_path / "a.toml")


def test_extends_sibling_and_packaged(tmp_path):
    _write(tmp_path, HEAD + _param() + '[priors.ENF]\nk = {dist = "uniform", source = "s"}\n', "base.toml")
    child = _write(tmp_path, '[catalogue]\nmodel = "child"\ndescription = "c"\nextends = "base"\n'
                   + _param(name="j") + '[priors.ENF]\nj = {dist = "truncnormal", mean = 0.4, sd = 0.1, source = "s"}\n',
                   "child.toml")
    cat = load_catalogue(child)
    assert cat.names() == ("k", "j")
    assert set(cat.pft_priors["ENF"]) == {"k", "j"}
    # a filesystem catalogue may extend a packaged one
    onto_pkg = _write(tmp_path, '[catalogue]\nmodel = "x"\ndescription = "x"\nextends = "dalec2"\n' + _param(name="zz"),
                      "x.toml")
    cat = load_catalogue(onto_pkg)
    assert cat.names()[-1] == "zz" and "clma" in cat.parameters and "DBF" in cat.pfts


def test_extending_catalogue_cannot_redefine(tmp_path):
    path = _write(tmp_path, '[catalogue]\nmodel = "x"\ndescription = "x"\nextends = "dalec2"\n'
                  + _param(name="clma", lower=10.0, upper=400.0, default=50.0))
    with pytest.raises(CatalogueError, match=r"parameter 'clma': already defined by the extended catalogue 'dalec2'"):
        load_catalogue(path)


def test_unknown_packaged_name_and_missing_file(tmp_path):
    with pytest.raises(CatalogueError, match=r"no packaged catalogue named 'dalec9'.*'dalec2'"):
        load_catalogue("dalec9")
    with pytest.raises(CatalogueError, match=r"does not exist"):
        load_catalogue(tmp_path / "missing.toml")


def test_invalid_toml_and_missing_header(tmp_path):
    with pytest.raises(CatalogueError, match=r"bad.toml: not valid TOML"):
        load_catalogue(_write(tmp_path, "[catalogue\n", "bad.toml"))
    with pytest.raises(CatalogueError, match=r"nohead.toml: missing \[catalogue\]"):
        load_catalogue(_write(tmp_path, _param(), "nohead.toml"))
    with pytest.raises(CatalogueError, match=r"top.toml: unknown top-level table\(s\) \['paramters'\]"):
        load_catalogue(_write(tmp_path, HEAD + "[paramters.k]\nx = 1\n", "top.toml"))


def test_prior_spec_round_trips_through_dict():
    p = PriorSpec("lognormal", "src", median=2.0, sigma_log=0.3)
    assert PriorSpec.from_dict(p.to_dict()) == p
    assert p.to_dict() == {"dist": "lognormal", "median": 2.0, "sigma_log": 0.3, "source": "src"}


# --- the inference layer can use every prior --------------------------------------------------------


def test_inference_layer_translates_every_prior(catalogue):
    """`bayeslsm.infer.parameters.z_prior` accepts every (parameter, PFT) prior of the catalogue."""
    parameters = pytest.importorskip("bayeslsm.infer.parameters", reason="inference layer not importable")
    for pft in (None, *catalogue.pfts):
        for name, spec in catalogue.parameters.items():
            zp = parameters.z_prior(spec, catalogue.prior_for(name, pft))
            m, s = zp.normal_approx()
            assert math.isfinite(m) and math.isfinite(s) and s > 0, (pft, name, zp)


# --- packaged resources (wheel layout) ---------------------------------------------------------------


def test_packaged_resources_in_this_install():
    try:
        root = importlib.resources.files("bayeslsm._models")
    except ModuleNotFoundError:
        pytest.skip("bayeslsm._models is not importable in this (editable) install: setuptools' editable finder "
                    "needs models/__init__.py; the wheel layout is tested by test_wheel_layout_reads_catalogues")
    names = {p.name for p in root.iterdir()}
    assert {f"{m}.toml" for m in SHIPPED} <= names


def test_wheel_layout_reads_catalogues(tmp_path):
    """Reproduce the wheel's layout (models/*.toml -> bayeslsm/_models/) and read it via importlib.resources."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "bayeslsm", site / "bayeslsm", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "bayeslsm" / "_models").mkdir()
    for toml in (REPO / "models").glob("*.toml"):
        shutil.copy(toml, site / "bayeslsm" / "_models" / toml.name)
    code = textwrap.dedent("""
        import importlib.resources, json, bayeslsm
        from bayeslsm.priors import available_catalogues, load_catalogue
        assert bayeslsm.__file__.startswith(%r), bayeslsm.__file__
        names = sorted(p.name for p in importlib.resources.files("bayeslsm._models").iterdir())
        cats = {n: len(load_catalogue(n).parameters) for n in available_catalogues()}
        print(json.dumps({"names": names, "cats": cats}))
    """ % str(site))
    env = {"PYTHONPATH": str(site), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {f"{m}.toml" for m in SHIPPED} <= set(out["names"])
    assert out["cats"]["dalec2"] == 23 and out["cats"]["vsem"] == 11


# --- agreement with the process models (skipped until they exist) ------------------------------------

MODELS = {
    "vsem": ("bayeslsm.lsm.vsem", ("VSEM",)),
    "dalec2": ("bayeslsm.lsm.dalec2", ("DALEC2",)),
    "dalec2_water": ("bayeslsm.lsm.dalec2_water", ("DALEC2Water", "DALEC2_Water", "DALEC2WATER")),
}


def _model_class(model: str):
    module_name, candidates = MODELS[model]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        pytest.skip(f"{module_name} is not importable yet: {e}")
    for c in candidates:
        if hasattr(module, c):
            return getattr(module, c)
    pytest.skip(f"{module_name} defines none of {list(candidates)}")


@pytest.mark.parametrize("model", sorted(MODELS))
def test_catalogue_matches_model_params_and_state(model):
    cls = _model_class(model)
    cat = load_catalogue(model)
    assert cat.names("process") == tuple(cls.Params._fields), (
        f"{model}: catalogue process parameters {cat.names('process')} != {cls.__name__}.Params {cls.Params._fields}"
    )
    # every State field is set by exactly one initial pool
    assert sorted(cat.state_fields.values()) == sorted(cls.State._fields), (
        f"{model}: initial pools map to {sorted(cat.state_fields.values())}, State has {sorted(cls.State._fields)}"
    )
    # and the model builds its State from the catalogue's pool names
    if hasattr(cls, "initial_state"):
        state = cls().initial_state(cat.defaults())
        for pool, field in cat.state_fields.items():
            assert float(getattr(state, field)) == cat.parameters[pool].default, (pool, field)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_catalogue_defaults_match_model_defaults(model):
    cls = _model_class(model)
    defaults = getattr(cls, "DEFAULTS", None)
    if defaults is None:
        pytest.skip(f"{cls.__name__} has no DEFAULTS mapping")
    cat = load_catalogue(model)
    assert set(defaults) == set(cat.parameters), (
        f"{cls.__name__}.DEFAULTS keys {sorted(defaults)} != catalogue names {sorted(cat.parameters)}"
    )
    for name in cat.parameters:
        assert float(defaults[name]) == cat.parameters[name].default, name


@pytest.mark.parametrize("model", sorted(MODELS))
def test_catalogue_units_match_model_units(model):
    """Units have one home: the model module's ``*PARAM_UNITS`` table agrees with the catalogue."""
    cls = _model_class(model)
    module = sys.modules[cls.__module__]
    tables = [v for k, v in vars(module).items()
              if k.endswith("PARAM_UNITS") and isinstance(v, dict) and set(cls.Params._fields) <= set(v)]
    if not tables:
        pytest.skip(f"{module.__name__} has no *PARAM_UNITS table covering {cls.__name__}.Params")
    cat = load_catalogue(model)
    units = tables[0]
    assert set(units) <= set(cat.parameters), f"units for names not in the catalogue: {set(units) - set(cat.parameters)}"
    for name, unit in units.items():  # process parameters, and initial pools where the table has them
        assert unit == cat.parameters[name].unit, (name, unit, cat.parameters[name].unit)


def test_catalogue_built_in_code():
    spec = ParameterSpec("a", "a fraction", "1", 0.0, 1.0, 0.5, "logit", "s")
    cat = Catalogue("m", {"a": spec}, {"X": {"a": {"dist": "truncnormal", "mean": 0.3, "sd": 0.1, "source": "s"}}})
    assert cat.prior_for("a", "X") == PriorSpec("truncnormal", "s", mean=0.3, sd=0.1)
    with pytest.raises(CatalogueError, match=r"`parameters\['b'\]` must be a ParameterSpec named 'b'"):
        Catalogue("m", {"b": spec}, {})
    with pytest.raises(CatalogueError, match=r"\[priors.X\] 'a': prior mean 2.0 is outside"):
        Catalogue("m", {"a": spec}, {"X": {"a": PriorSpec("truncnormal", "s", mean=2.0, sd=0.1)}})
    with pytest.raises(CatalogueError, match=r"PFT name 'global' is reserved"):
        Catalogue("m", {"a": spec}, {"global": {}})
