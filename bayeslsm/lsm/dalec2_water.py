"""DALEC2 coupled to a single-bucket soil water balance with Penman–Monteith evapotranspiration.

The carbon part is DALEC2 unchanged (:mod:`bayeslsm.lsm.dalec2`: same functions, same arithmetic);
the water part adds one state, the plant-available soil water W [mm] of a root-zone bucket of capacity
W_max, and couples the two both ways:

* carbon → water: the canopy conductance and the share of available energy absorbed by the canopy
  grow with LAI (start-of-step foliage, as in DALEC2's GPP);
* water → carbon: a soil-water stress factor β(W) multiplies ACM's GPP (``water_stress=True``).

Equations of one day (Δt [d]; all right-hand sides use start-of-step W and pools)
-------------------------------------------------------------------------------
Radiation (FAO-56: Allen et al. 1998, *Crop evapotranspiration*, FAO Irrigation and Drainage Paper 56,
ISBN 92-5-104219-5; equation numbers are FAO-56's):

* e°(T) = 0.6108·exp(17.27·T/(T + 237.3)) [kPa] (eq. 11); e_s = ½[e°(Tmax) + e°(Tmin)] (eq. 12);
  e_a = max(e_s − VPD, 0) [kPa] (actual vapour pressure from the VPD forcing);
* T_mean = ½(Tmin + Tmax) [°C], as in DALEC; Δ = 4098·e°(T_mean)/(T_mean + 237.3)² [kPa K-1] (eq. 13);
* γ = c_p·P/(ε·λ) [kPa K-1] (eq. 8) with P = 101.3 kPa (eq. 7 at sea level);
* ρ_a = P/(1.01·(T_mean + 273.16)·R) [kg m-3] (Annex 3, eq. 3-5);
* R_a from latitude and day of year (eqs. 21, 23–25), R_so = 0.75·R_a (eq. 37);
* R_nl = σ·½(T_max,K⁴ + T_min,K⁴)·(0.34 − 0.14·√e_a)·(1.35·R_s/R_so − 0.35) (eq. 39), with
  R_s/R_so clipped to [1/3, 1] (FAO-56 bounds it by 1; 1/3 is the no-sunshine Ångström value and is
  used at polar night where R_so = 0);
* R_n = (1 − albedo)·R_s − R_nl (eqs. 38, 40); soil heat flux G = 0 for daily steps (eq. 42);
  available energy A = max(R_n, 0) [W m-2].  The clip (no dew/condensation) is a kink in ``albedo``
  on days where R_n crosses 0.

Evapotranspiration (fluxes in [mm d-1] = [kg m-2 d-1]):

* canopy fraction f_c = 1 − exp(−k_ext·max(LAI, 0)) (Beer's law; the max guards negative foliage,
  which DALEC2 does not forbid);
* surface conductance g_s = g_max·f_c·β [m s-1] (Kelliher et al. 1995 scale g_max; linear in β);
* potential transpiration by Penman–Monteith (Monteith 1965; FAO-56 eq. 3) on the canopy's share of
  the energy, written with conductances so that g_s → 0 is regular:
  λE = g_s·(Δ·f_c·A + ρ_a·c_p·VPD·g_a) / (g_s·(Δ + γ) + γ·g_a) [W m-2];
* potential soil evaporation: equilibrium evaporation (Priestley & Taylor 1972 with α = 1) of the
  energy reaching the soil, reduced linearly with relative soil water:
  λE_s = α·Δ/(Δ + γ)·(1 − f_c)·A·W/W_max;
* supply limit (so that W ≥ 0): T = min(T_pot, S), E_s = min(E_s,pot, S − T) with
  S = W/Δt + P the water available in the step (kinks where supply binds);
* ET = T + E_s, LE = ET·λ/86400 [W m-2] with λ = 2.45e6 J kg-1 (FAO-56).

Bucket (Manabe-type, plant-available water between wilting point 0 and field capacity W_max):

* W' = max(W + (P − ET)·Δt, 0) (the max only absorbs rounding);
* water above field capacity, Q = (W' − min(W', W_max))/Δt [mm d-1], leaves the bucket in the same
  step: a fraction 1 − (1 − k_drain)^Δt drains to depth (drainage), the rest runs off (runoff);
* W_end = min(W', W_max), so W stays in [0, W_max]; P − ET − drainage − runoff = (W_end − W)/Δt.

Water stress (FAO-56 eq. 84 with W = TAW − D_r): β = clip(W/(beta_crit·W_max), 0, 1), i.e. no stress
above the critical fraction beta_crit of capacity (beta_crit = 1 − p, p the depletion fraction), linear
to 0 at the wilting point.  Kink at W = beta_crit·W_max (the gradient with respect to W_max, beta_crit
and every parameter that moves W jumps there).  With ``water_stress=False`` β ≡ 1 both on GPP and on
g_s: the carbon outputs are exactly DALEC2's, and the bucket is driven by that carbon.

References
----------
Monteith JL (1965). Evaporation and environment. Symposia of the Society for Experimental Biology 19,
205-234.

Allen RG, Pereira LS, Raes D, Smith M (1998). Crop evapotranspiration: guidelines for computing crop
water requirements. FAO Irrigation and Drainage Paper 56, ISBN 92-5-104219-5.

Priestley CHB, Taylor RJ (1972). On the assessment of surface heat flux and evaporation using
large-scale parameters. Monthly Weather Review 100, 81-92.
doi:10.1175/1520-0493(1972)100<0081:OTAOSH>2.3.CO;2.

Kelliher FM, Leuning R, Raupach MR, Schulze E-D (1995). Maximum conductances for evaporation from
global vegetation types. Agricultural and Forest Meteorology 73, 1-16.

Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015 (DALEC2); Williams et al. (1997),
doi:10.1046/j.1365-2486.1997.00094.x (ACM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, NamedTuple

import jax.numpy as jnp
import numpy as np

from bayeslsm.lsm import constants as C
from bayeslsm.lsm.dalec2 import (
    DALEC2,
    DALEC2_OUTPUT_UNITS,
    DALEC2_PARAM_UNITS,
    INITIAL_POOL_KEYS,
    DALEC2Drivers,
    DALEC2Params,
    DALEC2State,
    _as_state,
    build_forcing,
    carbon_step,
    leaf_area,
    loss_fractions,
)

__all__ = [
    "DALEC2Water",
    "DALEC2WaterParams",
    "DALEC2WaterState",
    "DALEC2WaterForcing",
    "DALEC2WaterDrivers",
    "DALEC2WaterOutputs",
    "DALEC2_WATER_OUTPUT_UNITS",
    "DALEC2_WATER_PARAM_UNITS",
    "WATER_DEFAULTS",
    "saturation_vapour_pressure",
    "svp_slope",
    "psychrometric_constant",
    "air_density",
    "extraterrestrial_radiation",
    "net_radiation",
    "canopy_fraction",
    "surface_conductance",
    "penman_monteith",
    "equilibrium_evaporation",
    "water_stress_factor",
    "bucket_update",
]


# ---------------------------------------------------------------------------------------------------
# Pytrees

WATER_PARAM_UNITS: dict[str, str] = {
    "W_max": "mm",
    "beta_crit": "1",
    "k_drain": "d-1",
    "g_max": "mm s-1",
    "k_ext": "1",
    "g_a": "mm s-1",
    "albedo": "1",
}

DALEC2WaterParams = NamedTuple(
    "DALEC2WaterParams", [(n, Any) for n in (*DALEC2Params._fields, *WATER_PARAM_UNITS)]
)
DALEC2WaterParams.__doc__ = """DALEC2's 17 parameters followed by the water parameters.

Water parameters (units in :data:`DALEC2_WATER_PARAM_UNITS`, defaults in :data:`WATER_DEFAULTS`):

W_max : plant-available water capacity of the root-zone bucket (field capacity − wilting point) [mm]
beta_crit : fraction of W_max below which water stress reduces GPP and conductance [-]
k_drain : drainage rate of water above field capacity (the rest runs off in the same step) [d-1]
g_max : maximum surface conductance to water vapour at full cover [mm s-1]
k_ext : extinction coefficient for canopy cover f_c = 1 − exp(−k_ext·LAI) [-]
g_a : aerodynamic conductance [mm s-1]
albedo : shortwave albedo of the surface [-]
"""
DALEC2WaterParams.__module__ = __name__

DALEC2_WATER_PARAM_UNITS: dict[str, str] = {**DALEC2_PARAM_UNITS, **WATER_PARAM_UNITS}
"""Units of every DALEC2Water parameter."""

WATER_DEFAULTS: dict[str, float] = {
    # FAO-56 total available water of a ~1 m root zone in a loam is of order 100-200 mm (Table 19).
    "W_max": 150.0,
    # FAO-56 eq. 84 and Table 22: depletion fraction p ~ 0.5 for many crops and trees -> beta_crit = 1 - p.
    "beta_crit": 0.5,
    # Expert judgement: a tenth of the water above field capacity drains per day; the rest runs off.
    "k_drain": 0.1,
    # Kelliher et al. (1995): maximum bulk surface conductance ~20 mm s-1 across vegetation types.
    "g_max": 20.0,
    # Beer's-law extinction coefficient ~0.5 for a spherical leaf-angle distribution.
    "k_ext": 0.5,
    # Between short grass (FAO-56 eq. 4: r_a = 208/u2 ~ 104 s m-1 at u2 = 2 m s-1, ~10 mm s-1) and tall
    # forest (r_a of order 10 s m-1, ~100 mm s-1); no wind forcing is used.
    "g_a": 50.0,
    # Forest canopies ~0.1-0.15; FAO-56 grass reference 0.23.
    "albedo": 0.15,
    # initial soil water (the State field W)
    "w_init": 100.0,
}
"""Defaults of the water parameters and the initial soil water ``w_init`` (with their sources)."""


class DALEC2WaterState(NamedTuple):
    """DALEC2 carbon pools [gC m-2] and plant-available soil water W [mm]."""

    C_lab: Any
    C_fol: Any
    C_roo: Any
    C_woo: Any
    C_lit: Any
    C_som: Any
    W: Any


_STATE_KEYS = {**INITIAL_POOL_KEYS, "W": "w_init"}

DALEC2WaterForcing = NamedTuple(
    "DALEC2WaterForcing", [(n, Any) for n in (*DALEC2.Forcing._fields, "precip", "vpd")]
)
DALEC2WaterForcing.__doc__ = """DALEC2's forcing plus ``precip`` [mm d-1] (liquid precipitation, no snow
scheme) and ``vpd`` [kPa] (daily mean vapour pressure deficit); leaves have a leading time axis."""
DALEC2WaterForcing.__module__ = __name__


class DALEC2WaterDrivers(NamedTuple):
    """State-independent quantities computed by :meth:`DALEC2Water.prepare`, one value per day.

    Attributes
    ----------
    carbon : DALEC2Drivers
    precip : precipitation [mm d-1]
    avail_energy : available energy A = max(R_n − G, 0) [W m-2]
    delta : slope of the saturation vapour pressure curve [kPa K-1]
    gamma : psychrometric constant [kPa K-1]
    rho_cp_vpd : ρ_a·c_p·VPD [W m-2 kPa K-1 per m s-1]
    k_drain_frac : 1 − (1 − k_drain)^Δt, the drained fraction of water above capacity [-]
    """

    carbon: Any
    precip: Any
    avail_energy: Any
    delta: Any
    gamma: Any
    rho_cp_vpd: Any
    k_drain_frac: Any


_MMD = "mm d-1"
DALEC2_WATER_OUTPUT_UNITS: dict[str, tuple[str, str]] = {
    **DALEC2_OUTPUT_UNITS,
    "LE": ("W m-2", "latent heat flux, ET·λ/86400"),
    "ET": (_MMD, "evapotranspiration (= kg m-2 d-1)"),
    "transpiration": (_MMD, "canopy transpiration"),
    "soil_evap": (_MMD, "soil evaporation"),
    "drainage": (_MMD, "drainage below the root zone"),
    "runoff": (_MMD, "surface runoff"),
    "Rn": ("W m-2", "available energy max(R_n, 0), daily mean"),
    "beta": ("1", "water-stress factor applied to GPP and conductance (1 when water_stress=False)"),
    "W_end": ("mm", "plant-available soil water at the end of the step"),
}
"""Output field -> (unit, long name): DALEC2's outputs followed by the water outputs."""

DALEC2WaterOutputs = NamedTuple("DALEC2WaterOutputs", [(n, Any) for n in DALEC2_WATER_OUTPUT_UNITS])
DALEC2WaterOutputs.__doc__ = "DALEC2Water daily outputs; fields and units in :data:`DALEC2_WATER_OUTPUT_UNITS`."
DALEC2WaterOutputs.__module__ = __name__


# ---------------------------------------------------------------------------------------------------
# Water physics


def saturation_vapour_pressure(t):
    """e°(T) = 0.6108·exp(17.27·T/(T + 237.3)) [kPa] at air temperature ``t`` [°C] (FAO-56 eq. 11)."""
    return C.SVP_A * jnp.exp(C.SVP_B * t / (t + C.SVP_C))


def svp_slope(t):
    """Slope Δ = 4098·e°(T)/(T + 237.3)² [kPa K-1] of e°(T) at ``t`` [°C] (FAO-56 eq. 13)."""
    return 4098.0 * saturation_vapour_pressure(t) / (t + C.SVP_C) ** 2


def psychrometric_constant(pressure=C.P_ATM):
    """γ = c_p·P/(ε·λ) [kPa K-1] for air pressure ``pressure`` [kPa] (FAO-56 eq. 8)."""
    return C.CP_AIR * pressure / (C.EPSILON_MW * C.LAMBDA_V)


def air_density(t, pressure=C.P_ATM):
    """ρ_a = P/(1.01·(T + 273.16)·R) [kg m-3] at ``t`` [°C] and ``pressure`` [kPa] (FAO-56 Annex 3, eq. 3-5)."""
    return pressure * 1.0e3 / (1.01 * (t + C.KELVIN) * C.R_DRY_AIR)


def extraterrestrial_radiation(lat, doy):
    """Daily extraterrestrial radiation R_a [MJ m-2 d-1] (FAO-56 eqs. 21, 23–25).

    Parameters
    ----------
    lat
        Latitude [degrees_north].
    doy
        Day of year J [d].

    Notes
    -----
    ω_s = arccos(clip(−tan φ·tan δ, −1, 1)) gives 0 at polar night and π at polar day (FAO-56 eq. 25
    is undefined there); the clip is in forcing only.  tan = sin/cos and sin ω_s = √(1 − cos²ω_s) reuse
    the sines and cosines already computed (four transcendental functions per day fewer, ~1 ulp apart).
    """
    phi = jnp.deg2rad(lat)
    sin_phi, cos_phi = jnp.sin(phi), jnp.cos(phi)
    dr = 1.0 + 0.033 * jnp.cos(2.0 * jnp.pi * doy / 365.0)
    dec = 0.409 * jnp.sin(2.0 * jnp.pi * doy / 365.0 - 1.39)
    sin_dec, cos_dec = jnp.sin(dec), jnp.cos(dec)
    cos_ws = jnp.clip(-(sin_phi / cos_phi) * (sin_dec / cos_dec), -1.0, 1.0)
    ws = jnp.arccos(cos_ws)
    sin_ws = jnp.sqrt(1.0 - cos_ws * cos_ws)
    return (24.0 * 60.0 / jnp.pi) * C.SOLAR_CONSTANT * dr * (ws * sin_phi * sin_dec + cos_phi * cos_dec * sin_ws)


def net_radiation(swrad, tmin, tmax, vpd, lat, doy, albedo):
    """Net radiation R_n = (1 − albedo)·R_s − R_nl [MJ m-2 d-1] (FAO-56 eqs. 37–40).

    Parameters
    ----------
    swrad
        Incoming shortwave R_s [MJ m-2 d-1].
    tmin, tmax
        Daily minimum and maximum air temperature [°C].
    vpd
        Vapour pressure deficit [kPa]; actual vapour pressure e_a = max(e_s − VPD, 0).
    lat, doy
        Latitude [degrees_north] and day of year [d] (for R_so).
    albedo
        Shortwave albedo [-].

    Returns
    -------
    Array
        R_n [MJ m-2 d-1] (may be negative).
    """
    es = 0.5 * (saturation_vapour_pressure(tmax) + saturation_vapour_pressure(tmin))
    ea = jnp.maximum(es - vpd, 0.0)
    rso = C.CLEAR_SKY_FACTOR * extraterrestrial_radiation(lat, doy)
    rel_sw = jnp.clip(swrad / jnp.maximum(rso, 1e-6), C.MIN_RELATIVE_SHORTWAVE, 1.0)
    e_a, e_b = C.LONGWAVE_EMISSIVITY
    c_a, c_b = C.LONGWAVE_CLOUD
    t4 = 0.5 * ((tmax + C.KELVIN) ** 4 + (tmin + C.KELVIN) ** 4)
    rnl = C.SIGMA_SB_DAY * t4 * (e_a - e_b * jnp.sqrt(ea)) * (c_a * rel_sw - c_b)
    return (1.0 - albedo) * swrad - rnl


def canopy_fraction(lai, k_ext):
    """Canopy cover f_c = 1 − exp(−k_ext·max(LAI, 0)) [-] (Beer's law; kink at LAI = 0)."""
    return 1.0 - jnp.exp(-k_ext * jnp.maximum(lai, 0.0))


def surface_conductance(g_max, f_c, beta):
    """Canopy surface conductance g_s = g_max·f_c·β [m s-1] from ``g_max`` [mm s-1].

    References
    ----------
    Kelliher et al. (1995), Agric. For. Meteorol. 73, 1-16 (magnitude of g_max).
    """
    return g_max * 1.0e-3 * f_c * beta


def penman_monteith(avail_energy, delta, gamma, rho_cp_vpd, g_a, g_s):
    """Latent heat flux by Penman–Monteith, in conductance form [W m-2].

    λE = g_s·(Δ·A + ρ_a·c_p·VPD·g_a) / (g_s·(Δ + γ) + γ·g_a), i.e. FAO-56 eq. 3,
    [Δ·A + ρ_a c_p VPD / r_a] / [Δ + γ(1 + r_s/r_a)], multiplied through by g_s = 1/r_s so that it is
    regular (→ 0) as g_s → 0.

    Parameters
    ----------
    avail_energy
        Available energy A = R_n − G [W m-2].
    delta, gamma
        Slope of e°(T) and psychrometric constant [kPa K-1].
    rho_cp_vpd
        ρ_a·c_p·VPD [J m-3 K-1 kPa] (= W m-2 kPa K-1 per m s-1).
    g_a, g_s
        Aerodynamic and surface conductance [m s-1], g_a > 0, g_s ≥ 0.

    Returns
    -------
    Array
        λE [W m-2].

    References
    ----------
    Monteith (1965); Allen et al. (1998), FAO-56 eq. 3, ISBN 92-5-104219-5.
    """
    return g_s * (delta * avail_energy + rho_cp_vpd * g_a) / (g_s * (delta + gamma) + gamma * g_a)


def equilibrium_evaporation(avail_energy, delta, gamma, alpha=C.EQUILIBRIUM_ALPHA_SOIL):
    """λE = α·Δ/(Δ + γ)·A [W m-2] (Priestley & Taylor 1972, doi:10.1175/1520-0493(1972)100<0081:OTAOSH>2.3.CO;2).

    ``avail_energy`` [W m-2], ``delta`` and ``gamma`` [kPa K-1], ``alpha`` [-] (1 = equilibrium).
    """
    return alpha * delta / (delta + gamma) * avail_energy


def water_stress_factor(w, w_max, beta_crit):
    """β = clip(W/(beta_crit·W_max), 0, 1) [-] (FAO-56 eq. 84 with wilting point 0).

    Parameters
    ----------
    w
        Plant-available soil water [mm].
    w_max
        Bucket capacity [mm].
    beta_crit
        Critical fraction of capacity below which stress starts [-].

    Notes
    -----
    Kink at W = beta_crit·W_max (no gradient from the stressed branch above it) and at W = 0.
    """
    return jnp.clip(w / (beta_crit * w_max), 0.0, 1.0)


def bucket_update(w, precip, transp_pot, soil_evap_pot, w_max, k_drain_frac, deltat):
    """One step of the soil-water bucket: supply-limited ET, then drainage and runoff above capacity.

    Parameters
    ----------
    w
        Soil water at the start of the step, in [0, W_max] [mm].
    precip
        Precipitation [mm d-1] (≥ 0).
    transp_pot, soil_evap_pot
        Potential transpiration and soil evaporation [mm d-1] (≥ 0).
    w_max
        Bucket capacity [mm].
    k_drain_frac
        Drained fraction of the water above capacity, 1 − (1 − k_drain)^Δt [-].
    deltat
        Step length [d].

    Returns
    -------
    w_end, transp, soil_evap, drainage, runoff
        End-of-step soil water [mm] and fluxes [mm d-1], with
        precip − transp − soil_evap − drainage − runoff = (w_end − w)/Δt and 0 ≤ w_end ≤ w_max.

    Notes
    -----
    ``min`` and ``max`` make this piecewise smooth: kinks where the supply binds and at capacity.
    """
    supply = w / deltat + precip
    transp = jnp.minimum(transp_pot, supply)
    soil_evap = jnp.minimum(soil_evap_pot, supply - transp)
    w_wet = jnp.maximum(w + (precip - transp - soil_evap) * deltat, 0.0)  # max absorbs rounding only
    w_end = jnp.minimum(w_wet, w_max)
    excess = (w_wet - w_end) / deltat
    drainage = excess * k_drain_frac
    runoff = excess - drainage
    return w_end, transp, soil_evap, drainage, runoff


# ---------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class DALEC2Water:
    """DALEC2 with a soil-water bucket, Penman–Monteith ET and water stress on GPP.

    Parameters
    ----------
    water_stress
        Static switch.  ``True``: β(W) multiplies GPP and the surface conductance.  ``False``: β ≡ 1, so
        the carbon outputs equal :class:`~bayeslsm.lsm.dalec2.DALEC2`'s and the water balance is a
        diagnostic driven by them.
    stress_fn
        Optional replacement of :func:`water_stress_factor` (used when ``water_stress=True``): a pure JAX,
        hashable callable ``stress_fn(W, params) -> β`` of the start-of-step soil water W [mm] and the
        ``Params`` pytree (which may carry extra leaves, e.g. the weights of a neural network:
        :mod:`bayeslsm.ml.hybrid`). ``None`` (default): the FAO-56 ramp, unchanged.

    Notes
    -----
    Equations, units and references in the module docstring (:mod:`bayeslsm.lsm.dalec2_water`).
    Initial state: DALEC2's pools (``clab_init``... or ``C_lab``...) plus ``W`` (or ``w_init``) [mm].

    Examples
    --------
    >>> import numpy as np
    >>> from bayeslsm.lsm import DALEC2Water, simulate
    >>> m = DALEC2Water()
    >>> n = 365
    >>> f = m.forcing_from_arrays(tmin=np.full(n, 5.0), tmax=np.full(n, 15.0), swrad=np.full(n, 15.0),
    ...                           co2=np.full(n, 400.0), doy=np.arange(1.0, n + 1), lat=50.0,
    ...                           precip=np.full(n, 2.0), vpd=np.full(n, 0.5))
    >>> out = simulate(m, m.params(m.DEFAULTS), f, m.initial_state(m.DEFAULTS))
    >>> bool((out.W_end >= 0).all() and (out.W_end <= m.DEFAULTS["W_max"]).all())
    True
    """

    water_stress: bool = True
    stress_fn: Callable | None = None

    name: ClassVar[str] = "dalec2_water"
    Params: ClassVar[type] = DALEC2WaterParams
    State: ClassVar[type] = DALEC2WaterState
    Forcing: ClassVar[type] = DALEC2WaterForcing
    Outputs: ClassVar[type] = DALEC2WaterOutputs
    Drivers: ClassVar[type] = DALEC2WaterDrivers

    DEFAULTS: ClassVar[Mapping[str, float]] = {**DALEC2.DEFAULTS, **WATER_DEFAULTS}
    """DALEC2's defaults plus :data:`WATER_DEFAULTS`."""

    def prepare(self, params, forcing) -> DALEC2WaterDrivers:
        """DALEC2's drivers plus the state-independent parts of the energy and water balance."""
        f = forcing
        carbon = DALEC2().prepare(params, DALEC2.Forcing(*(getattr(f, k) for k in DALEC2.Forcing._fields)))
        t_mean = 0.5 * (f.tmin + f.tmax)
        vpd = jnp.maximum(f.vpd, 0.0)  # forcing-only clip (validated >= 0 at the boundary)
        rn = net_radiation(f.swrad, f.tmin, f.tmax, vpd, f.lat, f.doy, params.albedo)
        return DALEC2WaterDrivers(
            carbon=carbon,
            precip=f.precip,
            avail_energy=jnp.maximum(rn, 0.0) * C.MJ_PER_DAY_TO_W,
            delta=svp_slope(t_mean),
            gamma=psychrometric_constant() + jnp.zeros_like(t_mean),
            rho_cp_vpd=air_density(t_mean) * C.CP_AIR * vpd,
            # 1 − (1 − k_drain)^Δt, without the pow when every step is one day (see loss_fractions)
            k_drain_frac=loss_fractions((params.k_drain,), f.deltat)[0] * f.deltat,
        )

    def step(self, state, drivers_t, params):
        """One day: β(W) → DALEC2 carbon step (GPP·β) → Penman–Monteith ET → bucket update."""
        d = drivers_t
        pools = DALEC2State(*state[:6])
        lai = leaf_area(state.C_fol, params.clma)
        if self.water_stress:  # static configuration, chosen at trace time
            if self.stress_fn is None:
                beta = water_stress_factor(state.W, params.W_max, params.beta_crit)
            else:  # user-supplied (e.g. learned) stress function
                beta = self.stress_fn(state.W, params)
            new_pools, out = carbon_step(pools, d.carbon, params, gpp_scale=beta)
        else:
            beta = jnp.ones_like(state.W)
            new_pools, out = carbon_step(pools, d.carbon, params)

        f_c = canopy_fraction(lai, params.k_ext)
        g_s = surface_conductance(params.g_max, f_c, beta)
        to_mm = C.SECONDS_PER_DAY / C.LAMBDA_V  # [W m-2] -> [mm d-1]
        transp_pot = penman_monteith(f_c * d.avail_energy, d.delta, d.gamma, d.rho_cp_vpd, params.g_a * 1.0e-3, g_s) * to_mm
        soil_pot = equilibrium_evaporation((1.0 - f_c) * d.avail_energy, d.delta, d.gamma) * to_mm
        soil_pot = soil_pot * jnp.clip(state.W / params.W_max, 0.0, 1.0)
        w_end, transp, soil_evap, drainage, runoff = bucket_update(
            state.W, d.precip, transp_pot, soil_pot, params.W_max, d.k_drain_frac, d.carbon.deltat
        )
        et = transp + soil_evap
        out.update(
            LE=et / to_mm, ET=et, transpiration=transp, soil_evap=soil_evap, drainage=drainage, runoff=runoff,
            Rn=d.avail_energy, beta=beta, W_end=w_end,
        )
        return DALEC2WaterState(*new_pools, W=w_end), DALEC2WaterOutputs(**out)

    def initial_state(self, values: Mapping) -> DALEC2WaterState:
        """Initial pools [gC m-2] and soil water [mm] from state names or catalogue names (``w_init``)."""
        return _as_state(DALEC2WaterState, values, _STATE_KEYS)

    def params(self, values: Mapping) -> DALEC2WaterParams:
        """``Params`` from a mapping holding (at least) every parameter name; extra keys are ignored."""
        return DALEC2.params(self, values)

    @classmethod
    def forcing_from_arrays(cls, *, precip, vpd, **columns):
        """Build ``Forcing`` from numpy columns: DALEC2's (see :meth:`DALEC2.forcing_from_arrays`) plus
        ``precip`` [mm d-1] and ``vpd`` [kPa], both ≥ 0 (validated eagerly)."""
        for name, v in (("precip", precip), ("vpd", vpd)):
            if np.any(np.asarray(v, dtype=float) < 0):
                raise ValueError(f"forcing column {name!r} must be >= 0; found min {np.min(v)}")
        return build_forcing(cls.Forcing, cls.name, {**columns, "precip": precip, "vpd": vpd})
