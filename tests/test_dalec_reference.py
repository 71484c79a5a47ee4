"""DALEC2 against the golden CARDAMOM DALEC C1 runs, and the disturbance path's carbon budget.

Golden files: ``../shared/reference/dalec/<drivers>/<pset>/`` (see ``../shared/reference/README.md``).

Tolerance of the golden comparison (README "Suggested acceptance test"): relative error <= 1e-9 per
column, measured against max(|ref|, 1e-6·max|ref|) (phenology tails, all-zero fire columns) and, for NEE
(a difference of large terms), against max(|NEE|, 1e-3·max|NEE|).  What the implementation reaches is far
below that: ~1e-13 to 7e-13 with the float32-rounded constants, up to ~2e-11 on NEE near its zero
crossings on CPUs where XLA contracts ``a*b - c`` into fused multiply-adds (ACM's C_a − C_i cancels ~3
digits).  1e-9 leaves room for other CPUs and XLA versions while still failing on any real slip (decimal
constants give ~1e-5, a day-of-year phenology clock ~3e-2; DALEC_REFERENCE.md §6, §9).
"""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from bayeslsm.lsm import DALEC2, simulate, simulate_sites
from bayeslsm.lsm import constants as C

RTOL = 1e-9  # README acceptance test (see module docstring)
FLOOR = 1e-6  # errors of values below FLOOR·max|column| are measured against FLOOR·max|column|
NEE_FLOOR = 1e-3  # NEE: against max(|NEE|, 1e-3·max|NEE|)
EPS = np.finfo(float).eps

MODEL = DALEC2()
POOLS = ("C_lab", "C_fol", "C_roo", "C_woo", "C_lit", "C_som")


def _cases(reference_dir):
    cases = sorted(p.parent for p in (reference_dir / "dalec").glob("*/*/params.json"))
    assert len(cases) == 8, f"expected 8 DALEC golden cases (2 drivers x 4 parameter sets); found {len(cases)}"
    return cases


def _forcing(drivers: pd.DataFrame, lat: float):
    return MODEL.forcing_from_arrays(
        run_day=drivers["run_day"].to_numpy(),
        tmin=drivers["tmin_degC"].to_numpy(),
        tmax=drivers["tmax_degC"].to_numpy(),
        swrad=drivers["swrad_MJ_m2_d"].to_numpy(),
        co2=drivers["co2_ppm"].to_numpy(),
        doy=drivers["doy"].to_numpy(),
        lat=lat,
        removed_frac=drivers["removed_frac"].to_numpy(),
        burned_frac=drivers["burned_frac"].to_numpy(),
        deltat=drivers["deltat_days"].to_numpy(),
    )


def _load(case):
    meta = json.loads((case / "params.json").read_text())
    drivers = pd.read_csv(case.parent / "drivers.csv")
    ref = pd.read_csv(case / "outputs.csv")
    return meta, drivers, ref


def column_errors(out, ref: pd.DataFrame) -> dict[str, float]:
    """Max relative error per golden column (README acceptance rule); a missing column raises."""
    errors = {}
    for col in ref.columns:
        if col in ("date", "run_day", "doy"):
            continue
        if col not in out._fields:
            raise AssertionError(f"model output has no field for golden column {col!r}")
        got = np.asarray(getattr(out, col))
        want = ref[col].to_numpy()
        assert got.shape == want.shape, f"{col}: shape {got.shape} != {want.shape}"
        scale = np.max(np.abs(want))
        floor = (NEE_FLOOR if col == "NEE" else FLOOR) * scale
        denom = np.maximum(np.abs(want), floor) if scale > 0 else 1.0
        errors[col] = float(np.max(np.abs(got - want) / denom))
    return errors


@pytest.fixture(scope="module")
def golden_results(reference_dir):
    results = {}
    for case in _cases(reference_dir):
        meta, drivers, ref = _load(case)
        values = meta["parameters"]
        out = simulate(MODEL, MODEL.params(values), _forcing(drivers, meta["lat_deg"]), MODEL.initial_state(values))
        results[f"{case.parent.name}/{case.name}"] = (out, ref)
    return results


def test_golden_columns_all_present(golden_results):
    expected = {"LAI", "GPP", "Ra", "Rh", "Reco", "NEE", *(f"{p}_end" for p in POOLS)}
    for name, (out, ref) in golden_results.items():
        cols = set(ref.columns) - {"date", "run_day", "doy"}
        assert expected <= cols, name
        assert sum(c.startswith("f") and c[1:3].isdigit() for c in cols) == 28, name
        assert cols <= set(out._fields), f"{name}: model lacks {sorted(cols - set(out._fields))}"


def test_golden_agreement(golden_results):
    report = {}
    for name, (out, ref) in golden_results.items():
        errs = column_errors(out, ref)
        worst = max(errs, key=errs.get)
        report[name] = (worst, errs[worst])
        bad = {k: v for k, v in errs.items() if not (0.0 <= v <= RTOL)}
        assert not bad, f"{name}: columns above relative error {RTOL}: {bad}"
    print("\nDALEC2 vs golden, max relative error per case:")
    for name, (col, err) in report.items():
        print(f"  {name:35s} {err:.2e} ({col})")


def test_column_errors_fails_on_missing_or_wrong_column(golden_results):
    out, ref = next(iter(golden_results.values()))
    with pytest.raises(AssertionError, match="no field"):
        column_errors(out, ref.assign(f29_not_a_flux=0.0))
    # a 1e-8 relative perturbation of GPP is caught (the check can fail)
    bumped = ref.assign(GPP=ref["GPP"] * (1 + 1e-8))
    assert column_errors(out, bumped)["GPP"] > RTOL


def test_sites_vmap_equals_single_runs(reference_dir):
    """simulate_sites over parameter sets reproduces the per-set runs.

    Not bit for bit: the batched kernel is fused (and FMA-contracted) differently.  Tolerance 1e-11
    relative, the golden-agreement level of NEE near its zero crossings (module docstring).
    """
    cases = [c for c in _cases(reference_dir) if c.parent.name.startswith("FR-Pue")]
    metas = [_load(c)[0] for c in cases]
    drivers = _load(cases[0])[1].iloc[:400]
    forcing = _forcing(drivers, metas[0]["lat_deg"])
    stack = lambda trees: jax.tree_util.tree_map(lambda *x: jnp.stack(x), *trees)  # noqa: E731
    params = stack([MODEL.params(m["parameters"]) for m in metas])
    init = stack([MODEL.initial_state(m["parameters"]) for m in metas])
    forcings = stack([forcing] * len(metas))
    many = simulate_sites(MODEL, params, forcings, init)
    for i, m in enumerate(metas):
        one = simulate(MODEL, MODEL.params(m["parameters"]), forcing, MODEL.initial_state(m["parameters"]))
        nee_scale = np.max(np.abs(np.asarray(one.NEE)))
        np.testing.assert_allclose(np.asarray(many.NEE[i]), np.asarray(one.NEE), rtol=1e-11, atol=1e-11 * nee_scale)
        np.testing.assert_allclose(np.asarray(many.C_som_end[i]), np.asarray(one.C_som_end), rtol=1e-11, atol=0)


def test_initial_state_accepts_both_key_styles():
    v = MODEL.DEFAULTS
    a = MODEL.initial_state(v)
    b = MODEL.initial_state({f: v[k] for f, k in zip(POOLS, ("clab_init", "cf_init", "cr_init", "cw_init", "cl_init", "cs_init"))})
    assert a == b
    with pytest.raises(KeyError, match="cs_init"):
        MODEL.initial_state({k: v[k] for k in ("clab_init", "cf_init", "cr_init", "cw_init", "cl_init")})
    with pytest.raises(ValueError, match="twice"):
        MODEL.initial_state({**v, "C_lab": 1.0})


def test_forcing_validation():
    n = 10
    good = dict(tmin=np.zeros(n), tmax=np.ones(n), swrad=np.ones(n), co2=np.full(n, 400.0), doy=np.arange(1.0, n + 1), lat=50.0)
    f = MODEL.forcing_from_arrays(**good)
    assert f.lat.shape == (n,) and float(f.deltat[0]) == 1.0 and float(f.run_day[-1]) == n
    with pytest.raises(ValueError, match="'co2'.*non-finite"):
        MODEL.forcing_from_arrays(**{**good, "co2": np.r_[np.nan, np.ones(n - 1)]})
    with pytest.raises(ValueError, match="'swrad' must have shape"):
        MODEL.forcing_from_arrays(**{**good, "swrad": np.ones(n + 1)})
    with pytest.raises(ValueError, match="unknown forcing columns"):
        MODEL.forcing_from_arrays(**good, precip=np.ones(n))


def test_lsm_imports_neither_numpyro_nor_xarray():
    code = "import sys, bayeslsm.lsm; print(sorted(m for m in ('numpyro', 'xarray') if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


# --- disturbance path -------------------------------------------------------------------------------


def _disturbed_forcing(reference_dir, n=730, deltat=1.0):
    drivers = pd.read_csv(reference_dir / "dalec" / "FR-Pue_2000-2004" / "drivers.csv").iloc[:n]
    removed = np.zeros(n)
    burned = np.zeros(n)
    removed[[100, 250, 251, 600]] = [0.3, 0.05, 0.5, 0.9]
    burned[[180, 250, 400, 401]] = [0.2, 0.7, 1.0, 0.4]  # day 250 has both
    drivers = drivers.assign(removed_frac=removed, burned_frac=burned, deltat_days=deltat)
    if deltat != 1.0:
        drivers = drivers.assign(run_day=np.arange(1, n + 1) * deltat, doy=(np.arange(n) * deltat) % 365 + deltat)
    return _forcing(drivers, 43.7414)


@pytest.mark.parametrize("deltat", [1.0, 2.0])
def test_disturbance_carbon_budget_closes(reference_dir, deltat):
    """Δ(total pools) = (GPP − Ra − Rh − fire emissions − removal)·Δt at every step.

    Tolerance: the pool sum is ~1e4 gC m-2; each step adds ~20 rounded terms, so the residual is a few
    ulp of the total: |residual| <= 64·eps·total (~1.4e-10 gC m-2) two-sided.
    """
    forcing = _disturbed_forcing(reference_dir, deltat=deltat)
    values = MODEL.DEFAULTS
    init = MODEL.initial_state(values)
    out = simulate(MODEL, MODEL.params(values), forcing, init)
    total_end = sum(np.asarray(getattr(out, f"{p}_end")) for p in POOLS)
    total_start = np.r_[sum(float(getattr(init, p)) for p in POOLS), total_end[:-1]]
    flux = np.asarray(out.GPP - out.Ra - out.Rh - out.f17_fire_total - out.removal)
    residual = (total_end - total_start) - flux * deltat
    np.testing.assert_allclose(residual, 0.0, atol=64 * EPS * total_end.max(), rtol=0)
    # the events happened and took carbon out
    assert np.all(np.asarray(out.removal)[[100, 250, 251, 600]] > 0)
    assert np.all(np.asarray(out.f17_fire_total)[[180, 250, 400, 401]] > 0)
    quiet = np.ones(len(total_end), bool)
    quiet[[100, 180, 250, 251, 400, 401, 600]] = False
    assert np.all(np.asarray(out.f17_fire_total)[quiet] == 0) and np.all(np.asarray(out.removal)[quiet] == 0)
    # NEE excludes fire: −NEE = GPP − Ra − Rh to rounding
    np.testing.assert_allclose(-np.asarray(out.NEE), np.asarray(out.GPP - out.Ra - out.Rh), rtol=0, atol=64 * EPS * 50)


def test_disturbance_step_matches_reference_equations():
    """One removal + fire step against DALEC_REFERENCE.md §5 written out in numpy (independent code)."""
    from bayeslsm.lsm.dalec2 import DALEC2State, disturbance

    pools = np.array([50.0, 120.0, 300.0, 8000.0, 600.0, 2000.0])
    m, b, dt = 0.25, 0.6, 1.0
    cc = np.float32([0.1, 0.9, 0.1, 0.1, 0.5, 0.01]).astype(float)
    p = pools.copy()
    p[[0, 1, 3]] *= 1 - m
    e = p * b * cc / dt
    mort = p * b * (1 - cc) * (1 - 0.5) / dt
    want = p.copy()
    want[:4] -= (e[:4] + mort[:4]) * dt
    want[4] += (mort[0] + mort[1] + mort[2] - e[4] - mort[4]) * dt
    want[5] += (mort[3] + mort[4] - e[5]) * dt
    new, fire, removed = disturbance(DALEC2State(*map(jnp.asarray, pools)), jnp.asarray(m), jnp.asarray(b), jnp.asarray(dt))
    np.testing.assert_allclose(np.array(new), want, rtol=4 * EPS, atol=0)  # a few roundings per pool
    np.testing.assert_allclose(np.array(fire), np.r_[e.sum(), e, mort[:5]], rtol=4 * EPS, atol=0)
    np.testing.assert_allclose(float(removed), pools[[0, 1, 3]].sum() * m, rtol=8 * EPS, atol=0)
    # no event: pools pass through bit for bit, all disturbance fluxes are exactly zero
    new0, fire0, removed0 = disturbance(DALEC2State(*map(jnp.asarray, pools)), jnp.asarray(0.0), jnp.asarray(0.0), jnp.asarray(1.0))
    np.testing.assert_array_equal(np.array(new0), pools)
    assert all(float(x) == 0.0 for x in fire0) and float(removed0) == 0.0


def test_float32_constants_are_the_module_values():
    """DALEC_REFERENCE.md §6: the float64 values the compiled module sees."""
    assert C.PI_F == 3.1415927410125732
    assert C.ACM_A2 == 0.015693500638008118 and C.ACM_A7 == 7.19297981262207
    assert C.M_LABILE == 3.4543774127960205 and C.SQRT2_F == 1.4142135381698608
    assert C.FIRE_COMBUSTION[1] == 0.8999999761581421
