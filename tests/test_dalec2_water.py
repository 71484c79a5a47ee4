"""DALEC2Water: water and carbon budgets, bucket bounds, reduction to DALEC2, Penman–Monteith units."""

from __future__ import annotations

import json

import jax
import numpy as np
import pandas as pd
import pytest

from bayeslsm.lsm import MODELS, DALEC2, DALEC2Water, simulate
from bayeslsm.lsm import constants as C
from bayeslsm.lsm.dalec2_water import (
    bucket_update,
    penman_monteith,
    psychrometric_constant,
    saturation_vapour_pressure,
    svp_slope,
)

EPS = np.finfo(float).eps
POOLS = ("C_lab", "C_fol", "C_roo", "C_woo", "C_lit", "C_som")
FR_PUE = "FR-Pue_2000-2004"


def _drivers(reference_dir, site=FR_PUE, n=None):
    drivers = pd.read_csv(reference_dir / "dalec" / site / "drivers.csv")
    return drivers if n is None else drivers.iloc[:n]


def _columns(drivers, lat):
    return dict(
        run_day=drivers["run_day"].to_numpy(),
        tmin=drivers["tmin_degC"].to_numpy(),
        tmax=drivers["tmax_degC"].to_numpy(),
        swrad=drivers["swrad_MJ_m2_d"].to_numpy(),
        co2=drivers["co2_ppm"].to_numpy(),
        doy=drivers["doy"].to_numpy(),
        lat=lat,
    )


def _weather(drivers, seed=0):
    """Synthetic precipitation with a rain-free summer and one storm; VPD from e°(T)·(1 − RH)."""
    rng = np.random.default_rng(seed)
    n = len(drivers)
    wet = rng.random(n) < 0.35
    precip = np.where(wet, rng.gamma(0.8, 8.0, n), 0.0)
    doy = drivers["doy"].to_numpy()
    precip[(doy > 150) & (doy < 260)] = 0.0  # dry summers: water stress and supply limitation
    precip[40] = 250.0  # a storm: saturation excess -> drainage and runoff
    t = 0.5 * (drivers["tmin_degC"].to_numpy() + drivers["tmax_degC"].to_numpy())
    vpd = np.asarray(saturation_vapour_pressure(t)) * (1.0 - rng.uniform(0.3, 0.9, n))
    return precip, vpd


def _run(model, reference_dir, n=1096, values=None, seed=0):
    drivers = _drivers(reference_dir, n=n)
    precip, vpd = _weather(drivers, seed)
    forcing = model.forcing_from_arrays(**_columns(drivers, 43.7414), precip=precip, vpd=vpd)
    values = {**model.DEFAULTS, **(values or {})}
    init = model.initial_state(values)
    return simulate(model, model.params(values), forcing, init), forcing, init, values


def test_registry_and_initial_state():
    assert MODELS["dalec2_water"] is DALEC2Water and MODELS["dalec2"] is DALEC2
    m = DALEC2Water()
    s = m.initial_state(m.DEFAULTS)
    assert float(s.W) == m.DEFAULTS["w_init"]
    assert m.initial_state({**{p: 1.0 for p in POOLS}, "W": 3.0}).W == 3.0
    with pytest.raises(KeyError, match="w_init"):
        m.initial_state({k: v for k, v in m.DEFAULTS.items() if k != "w_init"})
    with pytest.raises(ValueError, match="'precip' must be >= 0"):
        m.forcing_from_arrays(tmin=np.zeros(3), tmax=np.ones(3), swrad=np.ones(3), co2=np.ones(3),
                              doy=np.arange(1.0, 4), lat=0.0, precip=-np.ones(3), vpd=np.ones(3))
    assert set(DALEC2.Outputs._fields) < set(m.Outputs._fields)
    assert {"LE", "ET", "transpiration", "soil_evap", "drainage", "runoff", "W_end", "beta"} <= set(m.Outputs._fields)


@pytest.mark.parametrize("water_stress", [True, False])
def test_budgets_close_every_step(reference_dir, water_stress):
    """Water: P − ET − drainage − runoff = ΔW/Δt; carbon: GPP − Ra − Rh = −NEE = Δ(Σ pools)/Δt.

    Tolerances (two-sided, from float64 rounding): every step sums fewer than ~10 rounded terms of
    magnitude at most the store (W_max, Σ pools ~1e4 gC m-2), so residuals are a few ulp of the store;
    64·eps·store (~2e-12 mm, ~1.5e-10 gC m-2) is well inside the required 1e-10 relative closure.
    """
    m = DALEC2Water(water_stress=water_stress)
    out, forcing, init, values = _run(m, reference_dir)
    w_max = values["W_max"]
    w_end = np.asarray(out.W_end)
    w_start = np.r_[float(init.W), w_end[:-1]]
    precip = np.asarray(forcing.precip)
    water_in_out = precip - np.asarray(out.ET + out.drainage + out.runoff)
    np.testing.assert_allclose(water_in_out - (w_end - w_start), 0.0, rtol=0, atol=64 * EPS * w_max)
    np.testing.assert_allclose(np.asarray(out.ET), np.asarray(out.transpiration + out.soil_evap), rtol=0, atol=4 * EPS * 10)
    # the bucket stays in [0, W_max] exactly
    assert np.all(w_end >= 0.0) and np.all(w_end <= w_max)
    # every flux is non-negative
    for name in ("ET", "transpiration", "soil_evap", "drainage", "runoff"):
        assert np.all(np.asarray(getattr(out, name)) >= 0.0), name

    total_end = sum(np.asarray(getattr(out, f"{p}_end")) for p in POOLS)
    total_start = np.r_[sum(float(getattr(init, p)) for p in POOLS), total_end[:-1]]
    npp_minus_rh = np.asarray(out.GPP - out.Ra - out.Rh)
    np.testing.assert_allclose(total_end - total_start, npp_minus_rh, rtol=0, atol=64 * EPS * total_end.max())
    np.testing.assert_allclose(-np.asarray(out.NEE), npp_minus_rh, rtol=0, atol=64 * EPS * 50)

    # the run exercised every regime: saturation excess, drying, stress (when enabled)
    assert np.any(np.asarray(out.runoff) > 0) and np.any(np.asarray(out.drainage) > 0)
    assert w_end.min() < 0.5 * values["beta_crit"] * w_max
    beta = np.asarray(out.beta)
    if water_stress:
        assert beta.min() < 0.5 and beta.max() == 1.0
    else:
        assert np.all(beta == 1.0)


def test_bucket_empties_exactly_when_supply_binds(reference_dir):
    """A small bucket without rain: ET is limited to the water available and W reaches 0, never below."""
    m = DALEC2Water()
    drivers = _drivers(reference_dir, n=300)
    n = len(drivers)
    forcing = m.forcing_from_arrays(**_columns(drivers, 43.7414), precip=np.zeros(n), vpd=np.full(n, 2.0))
    values = {**m.DEFAULTS, "W_max": 20.0, "w_init": 20.0, "beta_crit": 0.05}
    out = simulate(m, m.params(values), forcing, m.initial_state(values))
    w = np.asarray(out.W_end)
    assert np.all(w >= 0.0) and w.min() == 0.0
    first_empty = int(np.argmax(w == 0.0))
    assert first_empty > 0, "the test needs a few days of drying before the bucket empties"
    # on the day it empties, ET is exactly the water that was there (supply-limited, no rain)
    np.testing.assert_allclose(float(out.ET[first_empty]), w[first_empty - 1], rtol=4 * EPS, atol=0)
    # once empty, no ET and no GPP (β = 0)
    assert np.all(np.asarray(out.ET)[first_empty + 1:] == 0.0)
    assert np.all(np.asarray(out.GPP)[first_empty + 1:] == 0.0)


def test_bucket_update_unit():
    # supply binds: T limited to W/Δt + P, soil evaporation gets nothing
    w_end, t, e, d, r = bucket_update(2.0, 1.0, 10.0, 5.0, 100.0, 0.1, 1.0)
    assert (float(t), float(e), float(w_end), float(d), float(r)) == (3.0, 0.0, 0.0, 0.0, 0.0)
    # saturation excess: 30 mm above capacity, 10% drains, the rest runs off
    w_end, t, e, d, r = bucket_update(95.0, 40.0, 3.0, 2.0, 100.0, 0.1, 1.0)
    assert float(w_end) == 100.0
    np.testing.assert_allclose([float(d), float(r)], [3.0, 27.0], rtol=8 * EPS, atol=0)


def test_water_stress_false_equals_dalec2(reference_dir):
    """With ``water_stress=False`` the carbon outputs are DALEC2's (and so match the goldens).

    Not bit for bit: XLA:CPU fuses the larger scan body differently and contracts a few a*b ± c into
    fused multiply-adds, which moves single values by ~1 ulp.  Tolerance 1e-14 relative (golden floor
    1e-6·max for tiny values); NEE, a difference of gross fluxes, is judged against the gross flux
    |GPP| + Reco of the step (a 1-ulp change in Rh_lit moves NEE by ~1e-15 gC m-2 d-1).
    """
    water = DALEC2Water(water_stress=False)
    carbon = DALEC2()
    for case in sorted((reference_dir / "dalec").glob("*/*/params.json")):
        meta = json.loads(case.read_text())
        drivers = pd.read_csv(case.parent.parent / "drivers.csv")
        precip, vpd = _weather(drivers, seed=1)
        cols = _columns(drivers, meta["lat_deg"])
        vals = {**water.DEFAULTS, **meta["parameters"]}
        out_w = simulate(water, water.params(vals), water.forcing_from_arrays(**cols, precip=precip, vpd=vpd),
                         water.initial_state(vals))
        out_c = simulate(carbon, carbon.params(vals), carbon.forcing_from_arrays(**cols), carbon.initial_state(vals))
        gross = np.abs(np.asarray(out_c.GPP)) + np.abs(np.asarray(out_c.Reco))
        for name in DALEC2.Outputs._fields:
            a, b = np.asarray(getattr(out_w, name)), np.asarray(getattr(out_c, name))
            if name == "NEE":
                scale = gross
            else:
                scale = np.maximum(np.abs(b), 1e-6 * np.abs(b).max()) if np.any(b != 0) else np.ones_like(b)
            err = np.max(np.abs(a - b) / scale)
            assert err <= 1e-14, f"{case.parent.name}/{case.name} {name}: {err:.2e}"
        # the water part did run alongside
        assert np.all(np.isfinite(np.asarray(out_w.ET))) and float(np.asarray(out_w.ET).sum()) > 0


def test_water_stress_reduces_gpp(reference_dir):
    stressed, *_ = _run(DALEC2Water(water_stress=True), reference_dir)
    free, *_ = _run(DALEC2Water(water_stress=False), reference_dir)
    beta = np.asarray(stressed.beta)
    first = int(np.argmax(beta < 1.0))
    assert first > 0
    # identical until stress starts, then GPP on that day is exactly scaled by β
    np.testing.assert_allclose(np.asarray(stressed.GPP[:first]), np.asarray(free.GPP[:first]), rtol=1e-14, atol=0)
    np.testing.assert_allclose(float(stressed.GPP[first]), beta[first] * float(free.GPP[first]), rtol=1e-14, atol=0)
    assert float(stressed.GPP.sum()) < float(free.GPP.sum())


def test_latent_heat_is_et_times_lambda(reference_dir):
    out, *_ = _run(DALEC2Water(), reference_dir, n=400)
    np.testing.assert_allclose(np.asarray(out.LE), np.asarray(out.ET) * C.LAMBDA_V / C.SECONDS_PER_DAY,
                               rtol=4 * EPS, atol=1e-300)  # one multiplication and one division apart


def test_penman_monteith_matches_fao56_reference_et0():
    """Grass reference (r_s = 70 s m-1, r_a = 208/u2) against FAO-56 eq. 6 on a grid of conditions.

    Tolerance 2% two-sided: eq. 6 rounds the physics, 0.34·u2 for r_s/r_a = 70·u2/208 = 0.3365·u2 and
    900 for ε·86400/(1.01·R·208) ≈ 891 (FAO-56 ch. 2 and 3); a unit slip (mm vs m, MJ vs W) is ≥ 100%.
    """
    t = np.linspace(-5.0, 35.0, 9)[:, None, None]
    rn_mj = np.linspace(0.0, 20.0, 5)[None, :, None]
    u2 = np.linspace(0.5, 5.0, 4)[None, None, :]
    vpd = 0.4 * saturation_vapour_pressure(t)
    delta, gamma = svp_slope(t), psychrometric_constant()
    rho_cp_vpd = C.P_ATM * 1e3 / (1.01 * (t + C.KELVIN) * C.R_DRY_AIR) * C.CP_AIR * vpd
    le = penman_monteith(rn_mj * C.MJ_PER_DAY_TO_W, delta, gamma, rho_cp_vpd, u2 / 208.0, 1.0 / 70.0)
    et_ours = np.asarray(le) * C.SECONDS_PER_DAY / C.LAMBDA_V
    et0 = (0.408 * delta * rn_mj + gamma * 900.0 / (t + 273.0) * u2 * vpd) / (delta + gamma * (1.0 + 0.34 * u2))
    np.testing.assert_allclose(et_ours, np.asarray(et0), rtol=0.02, atol=0)
    # zero conductance is regular: no transpiration, no NaN
    assert float(penman_monteith(100.0, 0.1, 0.067, 50.0, 0.05, 0.0)) == 0.0


def test_gradients_finite(reference_dir):
    m = DALEC2Water()
    drivers = _drivers(reference_dir, n=200)
    precip, vpd = _weather(drivers)
    forcing = m.forcing_from_arrays(**_columns(drivers, 43.7414), precip=precip, vpd=vpd)
    init = m.initial_state(m.DEFAULTS)
    grads = jax.grad(lambda p: simulate(m, p, forcing, init).ET.sum() + simulate(m, p, forcing, init).NEE.sum())(
        m.params(m.DEFAULTS)
    )
    for name, g in grads._asdict().items():
        assert np.isfinite(float(g)), name
    assert float(grads.g_max) != 0.0 and float(grads.W_max) != 0.0
