"""DALEC2 (DALEC C1 / DALEC_CDEA) with ACM GPP, in pure JAX.

Six carbon pools (labile, foliage, fine roots, wood, litter, soil organic matter), 17 process parameters,
analytical phenology, GPP from the Aggregated Canopy Model (ACM), first-order turnover with the
"discrete compounding" loss form, and CARDAMOM's simple removal/fire path.  The arithmetic follows the
CARDAMOM DALEC C1 f2py module exactly as described in ``../shared/reference/DALEC_REFERENCE.md``
(float32-rounded constants, run-day phenology clock, integer day for the declination, ρ-clipped
day length), which this module reproduces to ~1e-14 relative (``tests/test_dalec_reference.py``).

Layout
------
``prepare`` computes everything that depends only on parameters and forcing, vectorised over the whole
time axis: the ACM canopy conductance and temperature term, day length, the temperature factor τ, the
phenology factors φ_f and φ_on, and the loss fractions of every first-order flux (with the ``pow`` of
the general step length skipped at run time when every step is one day, :func:`loss_fractions`; that and
the declination's sine and cosine without arcsin halved the forward run on XLA:CPU, 260 → 136 ns per
day at one site, ``benchmarks/forward_gradient.py``).  ``step`` is then
LAI → ACM GPP → allocation → turnover → pool update → disturbance.  The physics is split into small
functions (:func:`acm_gpp`, :func:`allocate`, :func:`turnover`, :func:`pool_update`,
:func:`disturbance`, ...) that the carbon–water variant (:mod:`bayeslsm.lsm.dalec2_water`) reuses.

Units: pools [gC m-2], fluxes [gC m-2 d-1], time step Δt [d].  NEE > 0 is a net source to the
atmosphere; fire emissions are not in NEE.

References
----------
Williams M, et al. (1997). ACM, the Aggregated Canopy Model of daily GPP.
doi:10.1046/j.1365-2486.1997.00094.x.

Fox A, Williams M, Richardson AD, et al. (2009). The REFLEX project: comparing different algorithms and
implementations for the inversion of a terrestrial ecosystem model against eddy covariance data.
Agricultural and Forest Meteorology 149, 1597-1615. doi:10.1016/j.agrformet.2009.05.002.

Bloom AA, Williams M (2015). Constraining ecosystem carbon dynamics in a data-limited world: integrating
ecological "common sense" in a model-data fusion framework. Biogeosciences 12, 1299-1315.
doi:10.5194/bg-12-1299-2015.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

from bayeslsm.lsm import constants as C

__all__ = [
    "DALEC2",
    "DALEC2Params",
    "DALEC2State",
    "DALEC2Forcing",
    "DALEC2Drivers",
    "DALEC2Outputs",
    "DALEC2_OUTPUT_UNITS",
    "DALEC2_PARAM_UNITS",
    "INITIAL_POOL_KEYS",
    "temperature_factor",
    "phenology_factors",
    "declination",
    "declination_sin_cos",
    "day_length",
    "canopy_conductance",
    "acm_gpp",
    "leaf_area",
    "allocate",
    "loss_fraction",
    "loss_fractions",
    "turnover",
    "pool_update",
    "disturbance",
    "carbon_step",
    "build_forcing",
]


# ---------------------------------------------------------------------------------------------------
# Pytrees


class DALEC2Params(NamedTuple):
    """The 17 DALEC2 process parameters (DALEC_REFERENCE.md §3; names after Pinnington's dalec2).

    Attributes
    ----------
    theta_min : litter → SOM decomposition rate at 0 °C [d-1]
    f_auto : fraction of GPP respired autotrophically [-]
    f_fol : fraction of NPP allocated to foliage [-]
    f_roo : fraction of the NPP left after foliage and labile allocation that goes to fine roots [-]
    clspan : leaf lifespan factor, > 1 (sets the leaf-fall magnitude) [yr]
    theta_woo : wood turnover rate [d-1]
    theta_roo : fine-root turnover rate [d-1]
    theta_lit : litter mineralisation rate at 0 °C [d-1]
    theta_som : SOM mineralisation rate at 0 °C [d-1]
    Theta : temperature exponent, rate factor exp(Θ·T_mean) [°C-1]
    ceff : canopy efficiency, ACM a1 [gC m-2 leaf d-1 per gN m-2]
    d_onset : run-day of peak labile release (period 365.25 d) [d]
    f_lab : fraction of (NPP − foliage allocation) to labile [-]
    cronset : labile-release period [d]
    d_fall : run-day of peak leaf fall (period 365.25 d) [d]
    crfall : leaf-fall period [d]
    clma : leaf carbon mass per area [gC m-2 leaf]
    """

    theta_min: Any
    f_auto: Any
    f_fol: Any
    f_roo: Any
    clspan: Any
    theta_woo: Any
    theta_roo: Any
    theta_lit: Any
    theta_som: Any
    Theta: Any
    ceff: Any
    d_onset: Any
    f_lab: Any
    cronset: Any
    d_fall: Any
    crfall: Any
    clma: Any


DALEC2_PARAM_UNITS: dict[str, str] = {
    "theta_min": "d-1", "f_auto": "1", "f_fol": "1", "f_roo": "1", "clspan": "yr", "theta_woo": "d-1",
    "theta_roo": "d-1", "theta_lit": "d-1", "theta_som": "d-1", "Theta": "degC-1",
    "ceff": "gC m-2 d-1 (gN m-2)-1", "d_onset": "d", "f_lab": "1", "cronset": "d", "d_fall": "d",
    "crfall": "d", "clma": "gC m-2",
}
"""Units of the DALEC2 process parameters."""


class DALEC2State(NamedTuple):
    """DALEC2 carbon pools [gC m-2]: labile, foliage, fine roots, wood, litter, soil organic matter."""

    C_lab: Any
    C_fol: Any
    C_roo: Any
    C_woo: Any
    C_lit: Any
    C_som: Any


INITIAL_POOL_KEYS: dict[str, str] = {
    "C_lab": "clab_init",
    "C_fol": "cf_init",
    "C_roo": "cr_init",
    "C_woo": "cw_init",
    "C_lit": "cl_init",
    "C_som": "cs_init",
}
"""State field -> catalogue name of the initial pool (p18..p23 of the reference)."""


class DALEC2Forcing(NamedTuple):
    """Daily drivers; every leaf has a leading time axis (T,).

    Attributes
    ----------
    run_day : day of run at the end of the step, 1..T (the phenology clock) [d]
    tmin, tmax : daily minimum and maximum air temperature [°C]
    swrad : incoming shortwave radiation, daily total [MJ m-2 d-1]
    co2 : atmospheric CO2 [ppm]
    doy : day of year at the end of the step, 1..366 [d]
    lat : site latitude, repeated for every day so that sites can be vmapped [degrees_north]
    removed_frac : fraction of labile, foliar and wood carbon removed at the end of the step [-]
    burned_frac : burned-area fraction at the end of the step [-]
    deltat : step length [d]
    """

    run_day: Any
    tmin: Any
    tmax: Any
    swrad: Any
    co2: Any
    doy: Any
    lat: Any
    removed_frac: Any
    burned_frac: Any
    deltat: Any


class DALEC2Drivers(NamedTuple):
    """State-independent quantities computed by :meth:`DALEC2.prepare`, one value per day.

    Attributes
    ----------
    deltat : step length [d]
    exp_a8_tmax : ACM temperature term exp(a8·Tmax) [-]
    g_c : ACM canopy conductance [gC m-2 d-1 ppm-1]
    co2 : atmospheric CO2 [ppm]
    swrad : shortwave radiation [MJ m-2 d-1]
    daylength_factor : a2·s + a5 with s the day length [h] [-]
    tau : temperature factor exp(Θ·T_mean) [-] (FLUXES 2)
    phi_f : leaf-fall factor [d-1] (FLUXES 9)
    phi_on : labile-release factor [d-1] (FLUXES 16)
    k_lab, k_fol, k_woo, k_roo, k_rh_lit, k_rh_som, k_decomp : loss fractions
        (1 − (1 − k)^Δt)/Δt of labile release, leaf fall, wood and root turnover, litter and SOM
        respiration and litter decomposition [d-1]
    removed_frac, burned_frac : disturbance drivers [-]
    """

    deltat: Any
    exp_a8_tmax: Any
    g_c: Any
    co2: Any
    swrad: Any
    daylength_factor: Any
    tau: Any
    phi_f: Any
    phi_on: Any
    k_lab: Any
    k_fol: Any
    k_woo: Any
    k_roo: Any
    k_rh_lit: Any
    k_rh_som: Any
    k_decomp: Any
    removed_frac: Any
    burned_frac: Any


_GC = "gC m-2 d-1"
DALEC2_OUTPUT_UNITS: dict[str, tuple[str, str]] = {
    "LAI": ("m2 m-2", "leaf area index from start-of-step foliage"),
    "GPP": (_GC, "gross primary production"),
    "Ra": (_GC, "autotrophic respiration"),
    "Rh": (_GC, "heterotrophic respiration (litter + SOM)"),
    "Reco": (_GC, "ecosystem respiration Ra + Rh"),
    "NEE": (_GC, "net ecosystem exchange, positive = source, fire excluded"),
    "f01_gpp": (_GC, "GPP"),
    "f02_temprate": ("1", "temperature factor exp(Theta * T_mean)"),
    "f03_ra": (_GC, "autotrophic respiration"),
    "f04_alloc_fol": (_GC, "allocation to foliage"),
    "f05_alloc_lab": (_GC, "allocation to labile"),
    "f06_alloc_roo": (_GC, "allocation to fine roots"),
    "f07_alloc_woo": (_GC, "allocation to wood"),
    "f08_lab_release": (_GC, "labile release to foliage"),
    "f09_leaffall_factor": ("d-1", "leaf-fall factor"),
    "f10_leaf_litter": (_GC, "foliage to litter"),
    "f11_wood_litter": (_GC, "wood to SOM"),
    "f12_root_litter": (_GC, "fine roots to litter"),
    "f13_rh_litter": (_GC, "litter heterotrophic respiration"),
    "f14_rh_som": (_GC, "SOM heterotrophic respiration"),
    "f15_litter_to_som": (_GC, "litter decomposition to SOM"),
    "f16_labrelease_factor": ("d-1", "labile-release factor"),
    "f17_fire_total": (_GC, "total fire emissions"),
    "f18_fire_lab": (_GC, "fire emissions from labile"),
    "f19_fire_fol": (_GC, "fire emissions from foliage"),
    "f20_fire_roo": (_GC, "fire emissions from fine roots"),
    "f21_fire_woo": (_GC, "fire emissions from wood"),
    "f22_fire_lit": (_GC, "fire emissions from litter"),
    "f23_fire_som": (_GC, "fire emissions from SOM"),
    "f24_firemort_lab_to_lit": (_GC, "fire mortality labile to litter"),
    "f25_firemort_fol_to_lit": (_GC, "fire mortality foliage to litter"),
    "f26_firemort_roo_to_lit": (_GC, "fire mortality fine roots to litter"),
    "f27_firemort_woo_to_som": (_GC, "fire mortality wood to SOM"),
    "f28_firemort_lit_to_som": (_GC, "fire mortality litter to SOM"),
    "removal": (_GC, "carbon removed from labile, foliage and wood (not reported by the reference module)"),
    "C_lab_end": ("gC m-2", "labile carbon at the end of the step"),
    "C_fol_end": ("gC m-2", "foliar carbon at the end of the step"),
    "C_roo_end": ("gC m-2", "fine-root carbon at the end of the step"),
    "C_woo_end": ("gC m-2", "wood carbon at the end of the step"),
    "C_lit_end": ("gC m-2", "litter carbon at the end of the step"),
    "C_som_end": ("gC m-2", "soil organic carbon at the end of the step"),
}
"""Output field -> (unit, long name).  ``f01``..``f28`` are the reference module's FLUXES columns."""

FIRE_OUTPUTS = tuple(DALEC2_OUTPUT_UNITS)[22:34]
"""Names of FLUXES 17..28 (fire emissions and mortality transfers), in :func:`disturbance` order."""

DALEC2Outputs = NamedTuple("DALEC2Outputs", [(name, Any) for name in DALEC2_OUTPUT_UNITS])
DALEC2Outputs.__doc__ = (
    "DALEC2 daily outputs (leaves of shape (T,) after :func:`~bayeslsm.lsm.core.simulate`); fields and "
    "units in :data:`DALEC2_OUTPUT_UNITS`."
)
DALEC2Outputs.__module__ = __name__


# ---------------------------------------------------------------------------------------------------
# State-independent physics (vectorised over time in ``prepare``)


def temperature_factor(tmin, tmax, Theta):
    """Temperature factor of litter and SOM turnover, τ = exp(Θ·½(Tmin + Tmax)).

    Parameters
    ----------
    tmin, tmax
        Daily minimum and maximum air temperature [°C].
    Theta
        Temperature exponent [°C-1].

    Returns
    -------
    Array
        τ [-] (FLUXES 2 of the reference).

    References
    ----------
    Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015.
    """
    return jnp.exp(Theta * 0.5 * (tmin + tmax))


def _offset_poly(x):
    """P(x) = c6 x⁶ + ... + c0 of the phenology offsets (constants.PHENOLOGY_POLY)."""
    c6, c5, c4, c3, c2, c1, c0 = C.PHENOLOGY_POLY
    return c6 * x**6 + c5 * x**5 + c4 * x**4 + c3 * x**3 + c2 * x**2 + c1 * x + c0


def phenology_factors(run_day, clspan, d_onset, cronset, d_fall, crfall):
    """Analytical leaf-fall and labile-release factors of DALEC2 (fractions per day).

    With s_f = 365.25/π, w = period·√2/2, magnitudes m_f = ½[ln L − ln(L − 1)] (L = ``clspan``) and
    m_l = ½[ln 1.001 − ln 0.001], and offsets o = P(·)·w (:data:`~bayeslsm.lsm.constants.PHENOLOGY_POLY`):

    φ = (2/√π)·(m/w)·exp(−[s_f·sin((t − d + o)/s_f)/w]²).

    Parameters
    ----------
    run_day
        Phenology clock t, the run day at the end of the step [d].
    clspan
        Leaf lifespan factor L > 1 [yr].
    d_onset, cronset
        Run-day of peak labile release and its period [d].
    d_fall, crfall
        Run-day of peak leaf fall and its period [d].

    Returns
    -------
    phi_f, phi_on
        Leaf-fall factor (FLUXES 9) and labile-release factor (FLUXES 16) [d-1].

    References
    ----------
    Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015, and DALEC_REFERENCE.md §4.3 (constants §6).
    """
    pi = C.PI_F
    s_f = C.PHENOLOGY_PERIOD / pi
    norm = 2.0 / jnp.sqrt(pi)
    w_f = crfall * C.SQRT2_F / 2.0
    w_l = cronset * C.SQRT2_F / 2.0
    m_f = 0.5 * (jnp.log(clspan) - jnp.log(clspan - 1.0))
    m_l = C.M_LABILE
    o_f = _offset_poly(jnp.log(clspan - 1.0)) * w_f
    o_l = _offset_poly(np.log(C.LEAF_LIFESPAN_MIN - 1.0)) * w_l
    phi_f = norm * (m_f / w_f) * jnp.exp(-((s_f * jnp.sin((run_day - d_fall + o_f) / s_f) / w_f) ** 2))
    phi_on = norm * (m_l / w_l) * jnp.exp(-((s_f * jnp.sin((run_day - d_onset + o_l) / s_f) / w_l) ** 2))
    return phi_f, phi_on


def declination(doy, deltat):
    """Solar declination on the integer day D = ⌈doy − Δt/2⌉.

    δ = −arcsin(sin(23.45°)·cos(2π(D + 10)/365)), with π and 23.45 as float32 literals.

    Parameters
    ----------
    doy
        Day of year at the end of the step [d].
    deltat
        Step length [d].

    Returns
    -------
    Array
        Declination δ [rad].

    References
    ----------
    Williams et al. (1997), doi:10.1046/j.1365-2486.1997.00094.x; DALEC_REFERENCE.md §4.2.
    """
    pi = C.PI_F
    d = jnp.ceil(doy - deltat / 2.0)
    return -jnp.arcsin(jnp.sin(C.DECLINATION_AMPLITUDE_DEG * pi / 180.0) * jnp.cos(2.0 * pi * (d + 10.0) / 365.0))


def declination_sin_cos(doy, deltat):
    """sin δ and cos δ of :func:`declination` without evaluating δ.

    sin δ = −sin(23.45°)·cos(2π(D + 10)/365) and cos δ = √(1 − sin²δ) (|δ| < π/2): the same numbers as
    ``sin``/``cos`` of :func:`declination` to ~1 ulp (day length to 4e-16 relative), three transcendental
    functions per day fewer (arcsin, sin, cos: ~25 ns per day on XLA:CPU).

    Parameters
    ----------
    doy
        Day of year at the end of the step [d].
    deltat
        Step length [d].

    Returns
    -------
    sin_dec, cos_dec
        [-].
    """
    pi = C.PI_F
    d = jnp.ceil(doy - deltat / 2.0)
    sin_dec = -(jnp.sin(C.DECLINATION_AMPLITUDE_DEG * pi / 180.0) * jnp.cos(2.0 * pi * (d + 10.0) / 365.0))
    return sin_dec, jnp.sqrt(1.0 - sin_dec * sin_dec)


def day_length(lat, dec):
    """Day length s = 12·[1 + (2/π)·arcsin(ρ)], ρ = clip(tan φ·tan δ, −1, 1).

    The clip (the only one in DALEC2) gives s = 0 at polar night and 24 h at polar day; its kinks are in
    forcing-only quantities and do not affect parameter gradients.

    Parameters
    ----------
    lat
        Latitude φ [degrees_north].
    dec
        Solar declination δ [rad].

    Returns
    -------
    Array
        Day length [h].

    References
    ----------
    Williams et al. (1997), doi:10.1046/j.1365-2486.1997.00094.x; DALEC_REFERENCE.md §4.2.
    """
    return _day_length(lat, jnp.sin(dec), jnp.cos(dec))


def _day_length(lat, sin_dec, cos_dec):
    """:func:`day_length` from sin δ and cos δ (:func:`declination_sin_cos`)."""
    pi = C.PI_F
    phi = lat * pi / 180.0
    rho = jnp.clip((jnp.sin(phi) * sin_dec) / (jnp.cos(phi) * cos_dec), -1.0, 1.0)
    return 12.0 * (1.0 + (2.0 / pi) * jnp.arcsin(rho))


def canopy_conductance(tmin, tmax):
    """ACM canopy conductance g_c = |ΔΨ|^a10 / (a6·R_tot + ½(Tmax − Tmin)).

    Parameters
    ----------
    tmin, tmax
        Daily minimum and maximum air temperature [°C].

    Returns
    -------
    Array
        g_c [gC m-2 d-1 ppm-1] (P_d = g_c·(C_a − C_i)), with ΔΨ = −2 MPa and R_tot = 1 fixed.

    References
    ----------
    Williams et al. (1997), doi:10.1046/j.1365-2486.1997.00094.x; constants of Fox et al. (2009),
    doi:10.1016/j.agrformet.2009.05.002.
    """
    half_range = 0.5 * (tmax - tmin)
    return abs(C.ACM_DELTA_PSI) ** C.ACM_A10 / (C.ACM_A6 * C.ACM_R_TOT + half_range)


def leaf_area(c_fol, clma):
    """LAI = C_fol / clma from start-of-step foliage [m2 m-2] (``c_fol`` [gC m-2], ``clma`` [gC m-2])."""
    return c_fol / clma


def acm_gpp(lai, ceff, exp_a8_tmax, g_c, co2, swrad, daylength_factor):
    """Daily GPP from the Aggregated Canopy Model (ACM-1).

    P_n = LAI·N·ceff·exp(a8·Tmax), C_i = ½[C_a + q − p + √((C_a + q − p)² − 4(C_a·q − p·a3))] with
    p = P_n/g_c and q = a3 − a4, E₀ = a7·LAI²/(LAI² + a9), P_d = g_c·(C_a − C_i), and
    GPP = E₀·I·P_d/(E₀·I + P_d)·(a2·s + a5).

    Parameters
    ----------
    lai
        Leaf area index [m2 m-2].
    ceff
        Canopy efficiency a1 [gC m-2 leaf d-1 per gN m-2].
    exp_a8_tmax
        exp(a8·Tmax) [-].
    g_c
        Canopy conductance from :func:`canopy_conductance`.
    co2
        Atmospheric CO2 C_a [ppm].
    swrad
        Shortwave radiation I [MJ m-2 d-1].
    daylength_factor
        a2·s + a5 with s the day length [h] [-].

    Returns
    -------
    Array
        GPP [gC m-2 d-1].

    References
    ----------
    Williams et al. (1997), doi:10.1046/j.1365-2486.1997.00094.x; Fox et al. (2009),
    doi:10.1016/j.agrformet.2009.05.002.
    """
    pn = lai * C.ACM_FOLIAR_N * ceff * exp_a8_tmax
    p = pn / g_c
    q = C.ACM_A3 - C.ACM_A4
    b = co2 + q - p
    ci = 0.5 * (b + jnp.sqrt(b**2 - 4.0 * (co2 * q - p * C.ACM_A3)))
    lai2 = lai**2
    e0 = C.ACM_A7 * lai2 / (lai2 + C.ACM_A9)
    pd = g_c * (co2 - ci)
    return e0 * swrad * pd / (e0 * swrad + pd) * daylength_factor


def loss_fraction(k, deltat):
    """Discrete-compounding loss fraction (1 − (1 − k)^Δt)/Δt [d-1] of a daily rate ``k`` [d-1].

    With Δt = 1 this is 1 − (1 − k), which is exactly 0 for k < 1.1e-16 (far phenology tails), unlike k.
    """
    return (1.0 - (1.0 - k) ** deltat) / deltat


@custom_vmap
def _unit_steps(deltat):
    """Whether every step is one day (a scalar bool)."""
    return jnp.all(deltat == 1.0)


@_unit_steps.def_vmap
def _unit_steps_vmap(axis_size, in_batched, deltat):
    # One answer for the whole batch (sites, chains, ...), so that the lax.cond in loss_fractions stays a
    # branch under vmap instead of becoming a select that evaluates both sides.
    del axis_size, in_batched
    return jnp.all(deltat == 1.0), False


def loss_fractions(rates, deltat):
    """:func:`loss_fraction` of several rates, without the power when every step is one day.

    ``(1 − k)^Δt`` costs one ``pow`` per day and rate (~11 ns each on XLA:CPU, seven per DALEC2 day: a
    third of the forward run).  When Δt = 1 on every day, which a run-time :func:`jax.lax.cond` checks, the
    loss fraction is ``1 − (1 − k)``, the same number ``loss_fraction`` gives (pow(x, 1) = x exactly);
    otherwise the general form is evaluated.  Under ``vmap`` the check covers the whole batch.

    Parameters
    ----------
    rates
        Sequence of daily rates k [d-1], each a scalar or an array broadcastable to ``deltat``.
    deltat
        Step lengths [d].

    Returns
    -------
    tuple
        Loss fractions [d-1], each with the shape of ``deltat``.
    """
    shape = jnp.shape(deltat)
    dtype = jnp.result_type(*rates, deltat)
    rates = tuple(jnp.broadcast_to(jnp.asarray(k, dtype=dtype), shape) for k in rates)
    deltat = jnp.asarray(deltat, dtype=dtype)

    def unit(rates, deltat):
        return tuple(1.0 - (1.0 - k) for k in rates)

    def general(rates, deltat):
        return tuple(loss_fraction(k, deltat) for k in rates)

    return jax.lax.cond(_unit_steps(jax.lax.stop_gradient(deltat)), unit, general, rates, deltat)


# ---------------------------------------------------------------------------------------------------
# State-dependent physics (inside the scan)


def allocate(gpp, f_auto, f_fol, f_lab, f_roo):
    """Sequential allocation of GPP (each fraction applies to what the previous ones left).

    Parameters
    ----------
    gpp
        Gross primary production [gC m-2 d-1].
    f_auto, f_fol, f_lab, f_roo
        Autotrophic respiration fraction of GPP; foliage fraction of NPP; labile and root fractions of
        the remainders [-].

    Returns
    -------
    ra, a_fol, a_lab, a_roo, a_woo
        Autotrophic respiration and allocation to foliage, labile, roots and wood [gC m-2 d-1].

    References
    ----------
    Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015.
    """
    ra = f_auto * gpp
    a_fol = (gpp - ra) * f_fol
    a_lab = (gpp - ra - a_fol) * f_lab
    a_roo = (gpp - ra - a_fol - a_lab) * f_roo
    a_woo = gpp - ra - a_fol - a_lab - a_roo
    return ra, a_fol, a_lab, a_roo, a_woo


class Turnover(NamedTuple):
    """First-order loss fluxes from start-of-step pools [gC m-2 d-1]."""

    r_lab: Any  # labile release to foliage (FLUXES 8)
    l_fol: Any  # leaf litter (FLUXES 10)
    l_woo: Any  # wood litter, goes to SOM (FLUXES 11)
    l_roo: Any  # root litter (FLUXES 12)
    rh_lit: Any  # litter respiration (FLUXES 13)
    rh_som: Any  # SOM respiration (FLUXES 14)
    d_lit: Any  # litter decomposition to SOM (FLUXES 15)


def turnover(pools, drv) -> Turnover:
    """Turnover fluxes F = C·(1 − (1 − k)^Δt)/Δt from start-of-step pools.

    Parameters
    ----------
    pools
        ``DALEC2State`` at the start of the step [gC m-2].
    drv
        ``DALEC2Drivers`` of the step (loss fractions ``k_*`` [d-1]).

    Returns
    -------
    Turnover
        [gC m-2 d-1].

    References
    ----------
    Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015; DALEC_REFERENCE.md §4.6.
    """
    return Turnover(
        r_lab=pools.C_lab * drv.k_lab,
        l_fol=pools.C_fol * drv.k_fol,
        l_woo=pools.C_woo * drv.k_woo,
        l_roo=pools.C_roo * drv.k_roo,
        rh_lit=pools.C_lit * drv.k_rh_lit,
        rh_som=pools.C_som * drv.k_rh_som,
        d_lit=pools.C_lit * drv.k_decomp,
    )


def pool_update(pools, a_fol, a_lab, a_roo, a_woo, t: Turnover, deltat):
    """Explicit pool update over one step; wood litter goes straight to SOM.

    Parameters
    ----------
    pools
        ``DALEC2State`` at the start of the step [gC m-2].
    a_fol, a_lab, a_roo, a_woo
        Allocation fluxes [gC m-2 d-1].
    t
        Turnover fluxes [gC m-2 d-1].
    deltat
        Step length [d].

    Returns
    -------
    DALEC2State
        Pools at the end of the step, before disturbance [gC m-2].  No clipping.
    """
    return DALEC2State(
        C_lab=pools.C_lab + (a_lab - t.r_lab) * deltat,
        C_fol=pools.C_fol + (a_fol - t.l_fol + t.r_lab) * deltat,
        C_roo=pools.C_roo + (a_roo - t.l_roo) * deltat,
        C_woo=pools.C_woo + (a_woo - t.l_woo) * deltat,
        C_lit=pools.C_lit + (t.l_fol + t.l_roo - t.rh_lit - t.d_lit) * deltat,
        C_som=pools.C_som + (t.d_lit - t.rh_som + t.l_woo) * deltat,
    )


def disturbance(pools, removed_frac, burned_frac, deltat):
    """Biomass removal then fire, applied to the updated pools (DALEC_REFERENCE.md §5), branch-free.

    Removal multiplies labile, foliar and wood carbon by (1 − m) when m > 0.  Fire with burned fraction
    b > 0 emits E_i = C_i·b·cc_i/Δt from every pool and moves M_i = C_i·b·(1 − cc_i)(1 − r)/Δt from
    lab, fol, roo (to litter), wood and litter (to SOM), with the hard-coded combustion completeness cc
    and resilience r = 0.5 (:mod:`bayeslsm.lsm.constants`).  ``jnp.where(m > 0, m, 0)`` mirrors the
    reference's ``if``; with m = b = 0 the pools pass through bit-for-bit.  The kink at m, b = 0 is in
    forcing only (no parameter gradient crosses it).

    Parameters
    ----------
    pools
        ``DALEC2State`` after :func:`pool_update` [gC m-2].
    removed_frac, burned_frac
        Removal and burned-area fractions [-].
    deltat
        Step length [d].

    Returns
    -------
    pools : DALEC2State
        Pools after disturbance [gC m-2].
    fire : tuple
        (total emission, E_lab, E_fol, E_roo, E_woo, E_lit, E_som, M_lab, M_fol, M_roo, M_woo, M_lit)
        = FLUXES 17..28 [gC m-2 d-1].
    removed : Array
        Carbon removed [gC m-2 d-1] (not reported by the reference module).

    References
    ----------
    Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015 (CARDAMOM DALEC C1 disturbance path).
    """
    # x·(1/Δt) rather than x/Δt: one division per step instead of twelve (identical when Δt = 1)
    inv_dt = 1.0 / deltat
    m = jnp.where(removed_frac > 0, removed_frac, 0.0)
    lab = pools.C_lab * (1.0 - m)
    fol = pools.C_fol * (1.0 - m)
    woo = pools.C_woo * (1.0 - m)
    removed = ((pools.C_lab - lab) + (pools.C_fol - fol) + (pools.C_woo - woo)) * inv_dt
    roo, lit, som = pools.C_roo, pools.C_lit, pools.C_som

    b = jnp.where(burned_frac > 0, burned_frac, 0.0)
    cc_lab, cc_fol, cc_roo, cc_woo, cc_lit, cc_som = C.FIRE_COMBUSTION
    r = C.FIRE_RESILIENCE
    e_lab, e_fol, e_roo = lab * b * cc_lab * inv_dt, fol * b * cc_fol * inv_dt, roo * b * cc_roo * inv_dt
    e_woo, e_lit, e_som = woo * b * cc_woo * inv_dt, lit * b * cc_lit * inv_dt, som * b * cc_som * inv_dt
    m_lab = lab * b * (1.0 - cc_lab) * (1.0 - r) * inv_dt
    m_fol = fol * b * (1.0 - cc_fol) * (1.0 - r) * inv_dt
    m_roo = roo * b * (1.0 - cc_roo) * (1.0 - r) * inv_dt
    m_woo = woo * b * (1.0 - cc_woo) * (1.0 - r) * inv_dt
    m_lit = lit * b * (1.0 - cc_lit) * (1.0 - r) * inv_dt
    e_tot = e_lab + e_fol + e_roo + e_woo + e_lit + e_som
    new = DALEC2State(
        C_lab=lab - (e_lab + m_lab) * deltat,
        C_fol=fol - (e_fol + m_fol) * deltat,
        C_roo=roo - (e_roo + m_roo) * deltat,
        C_woo=woo - (e_woo + m_woo) * deltat,
        C_lit=lit + (m_lab + m_fol + m_roo - e_lit - m_lit) * deltat,
        C_som=som + (m_woo + m_lit - e_som) * deltat,
    )
    fire = (e_tot, e_lab, e_fol, e_roo, e_woo, e_lit, e_som, m_lab, m_fol, m_roo, m_woo, m_lit)
    return new, fire, removed


def carbon_step(pools, drv, params, gpp_scale=None):
    """One DALEC2 day: LAI → ACM GPP → allocation → turnover → update → disturbance.

    Parameters
    ----------
    pools
        ``DALEC2State`` at the start of the step [gC m-2].
    drv
        ``DALEC2Drivers`` of the step.
    params
        Any object with the DALEC2 parameter attributes (``DALEC2Params`` or an extension of it).
    gpp_scale
        Optional multiplier of the ACM GPP [-] (the water-stress factor of
        :mod:`bayeslsm.lsm.dalec2_water`); ``None`` leaves GPP untouched.

    Returns
    -------
    pools : DALEC2State
        End-of-step pools [gC m-2].
    out : dict
        Every :data:`DALEC2_OUTPUT_UNITS` field.
    """
    dt = drv.deltat
    lai = leaf_area(pools.C_fol, params.clma)
    gpp = acm_gpp(lai, params.ceff, drv.exp_a8_tmax, drv.g_c, drv.co2, drv.swrad, drv.daylength_factor)
    if gpp_scale is not None:  # static choice (None or an array), not a traced branch
        gpp = gpp * gpp_scale
    ra, a_fol, a_lab, a_roo, a_woo = allocate(gpp, params.f_auto, params.f_fol, params.f_lab, params.f_roo)
    t = turnover(pools, drv)
    nee = -gpp + ra + t.rh_lit + t.rh_som
    updated = pool_update(pools, a_fol, a_lab, a_roo, a_woo, t, dt)
    new, fire, removed = disturbance(updated, drv.removed_frac, drv.burned_frac, dt)
    rh = t.rh_lit + t.rh_som
    out = {
        "LAI": lai, "GPP": gpp, "Ra": ra, "Rh": rh, "Reco": ra + rh, "NEE": nee,
        "f01_gpp": gpp, "f02_temprate": drv.tau, "f03_ra": ra, "f04_alloc_fol": a_fol,
        "f05_alloc_lab": a_lab, "f06_alloc_roo": a_roo, "f07_alloc_woo": a_woo,
        "f08_lab_release": t.r_lab, "f09_leaffall_factor": drv.phi_f, "f10_leaf_litter": t.l_fol,
        "f11_wood_litter": t.l_woo, "f12_root_litter": t.l_roo, "f13_rh_litter": t.rh_lit,
        "f14_rh_som": t.rh_som, "f15_litter_to_som": t.d_lit, "f16_labrelease_factor": drv.phi_on,
    }
    out.update(zip(FIRE_OUTPUTS, fire))
    out["removal"] = removed
    out.update({f"{k}_end": v for k, v in new._asdict().items()})
    return new, out


def _as_state(cls, values: Mapping, keys: Mapping[str, str]):
    """Build ``cls`` from ``values`` keyed by state names or catalogue names (see ``keys``)."""
    fields = {}
    for field, alias in keys.items():
        has_f, has_a = field in values, alias in values
        if has_f and has_a:
            raise ValueError(f"initial state given twice: both {field!r} and {alias!r}; pass only one of them")
        if not (has_f or has_a):
            raise KeyError(
                f"initial state is missing {field!r} (or its catalogue name {alias!r}); "
                f"expected keys {list(keys)} or {list(keys.values())}, found {sorted(values)}"
            )
        fields[field] = jnp.asarray(values[field] if has_f else values[alias], dtype=float)
    return cls(**fields)


def _column(name, value, n, default=None):
    """One forcing column as a finite float array of length ``n`` (eager validation)."""
    if value is None:
        if default is None:
            raise ValueError(f"forcing column {name!r} is required")
        value = default
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"forcing column {name!r} must have shape ({n},) like `tmin`; found {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"forcing column {name!r} has {int((~np.isfinite(arr)).sum())} non-finite values; fill gaps first")
    return arr


def build_forcing(forcing_cls, model_name: str, cols: Mapping[str, Any]):
    """Validate numpy columns eagerly and build ``forcing_cls`` (leading time axis, float JAX arrays).

    ``run_day`` defaults to 1..T, ``removed_frac`` and ``burned_frac`` to 0, ``deltat`` to 1 day; a
    scalar (e.g. ``lat``) is repeated for every day.  Raises ``ValueError`` naming the column on an
    unknown or missing column, a wrong shape, a non-finite value or a non-positive ``deltat``.
    """
    tmin = cols.get("tmin")
    if tmin is None or np.ndim(tmin) != 1:
        raise ValueError(f"`tmin` must be a 1-D array over time; found shape {np.shape(tmin)}")
    n = np.shape(tmin)[0]
    unknown = sorted(set(cols) - set(forcing_cls._fields))
    if unknown:
        raise ValueError(f"unknown forcing columns {unknown}; {model_name} expects {list(forcing_cls._fields)}")
    defaults = {"run_day": np.arange(1.0, n + 1.0), "removed_frac": 0.0, "burned_frac": 0.0, "deltat": 1.0}
    arrays = {k: _column(k, cols.get(k), n, defaults.get(k)) for k in forcing_cls._fields}
    if np.any(arrays["deltat"] <= 0):
        raise ValueError("forcing column 'deltat' must be > 0 days")
    return forcing_cls(**{k: jnp.asarray(v) for k, v in arrays.items()})


# ---------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class DALEC2:
    """DALEC2 (DALEC C1 / DALEC_CDEA) with ACM GPP: six carbon pools, 17 parameters, daily steps.

    Follows the :mod:`bayeslsm.lsm.core` protocol: ``prepare`` (state-independent drivers, vectorised
    over time), ``step`` (one day), ``initial_state`` and the pytrees ``Params``, ``State``,
    ``Forcing``, ``Outputs``.  Initial pools (p18..p23, ``clab_init``...``cs_init``) are the ``init``
    state passed to :func:`~bayeslsm.lsm.core.simulate`, not parameters.

    References
    ----------
    Bloom & Williams (2015), doi:10.5194/bg-12-1299-2015; Williams et al. (1997),
    doi:10.1046/j.1365-2486.1997.00094.x; Fox et al. (2009), doi:10.1016/j.agrformet.2009.05.002.

    Examples
    --------
    >>> import numpy as np
    >>> from bayeslsm.lsm import DALEC2, simulate
    >>> m = DALEC2()
    >>> n = 365
    >>> doy = np.arange(1.0, n + 1)
    >>> forcing = m.forcing_from_arrays(tmin=np.full(n, 5.0), tmax=np.full(n, 15.0),
    ...                                 swrad=np.full(n, 15.0), co2=np.full(n, 400.0), doy=doy, lat=50.0)
    >>> params = m.Params(**{k: m.DEFAULTS[k] for k in m.Params._fields})
    >>> init = m.initial_state(m.DEFAULTS)
    >>> out = simulate(m, params, forcing, init)
    >>> out.GPP.shape
    (365,)
    """

    name: ClassVar[str] = "dalec2"
    Params: ClassVar[type] = DALEC2Params
    State: ClassVar[type] = DALEC2State
    Forcing: ClassVar[type] = DALEC2Forcing
    Outputs: ClassVar[type] = DALEC2Outputs
    Drivers: ClassVar[type] = DALEC2Drivers

    DEFAULTS: ClassVar[Mapping[str, float]] = {
        # Pinnington's dalec2 `edinburgh_mean` (the golden set of the same name), used as given.
        "theta_min": 9.80983217e-4, "f_auto": 0.519025559, "f_fol": 0.108612889, "f_roo": 0.484356048,
        "clspan": 1.19950434, "theta_woo": 1.01336503e-4, "theta_roo": 3.22465935e-3,
        "theta_lit": 3.44239452e-3, "theta_som": 1.11320287e-4, "Theta": 4.14726183e-2,
        "ceff": 71.4355778, "d_onset": 115.778224, "f_lab": 0.320361827, "cronset": 41.3391057,
        "d_fall": 220.529309, "crfall": 116.768714, "clma": 128.460812,
        "clab_init": 136.541509, "cf_init": 68.639683, "cr_init": 283.782534, "cw_init": 6506.00814,
        "cl_init": 598.832031, "cs_init": 1936.2535,
    }
    """Pinnington's ``edinburgh_mean`` parameters and initial pools (catalogue defaults)."""

    def prepare(self, params, forcing) -> DALEC2Drivers:
        """State-independent drivers for every day, vectorised over the time axis.

        Parameters
        ----------
        params
            ``DALEC2Params`` (scalar leaves).
        forcing
            ``DALEC2Forcing`` with leaves of shape (T,).

        Returns
        -------
        DALEC2Drivers
            Leaves of shape (T,).
        """
        f = forcing
        dt = f.deltat
        tau = temperature_factor(f.tmin, f.tmax, params.Theta)
        phi_f, phi_on = phenology_factors(
            f.run_day, params.clspan, params.d_onset, params.cronset, params.d_fall, params.crfall
        )
        s = _day_length(f.lat, *declination_sin_cos(f.doy, dt))
        k_lab, k_fol, k_woo, k_roo, k_rh_lit, k_rh_som, k_decomp = loss_fractions(
            (phi_on, phi_f, params.theta_woo, params.theta_roo, tau * params.theta_lit, tau * params.theta_som,
             params.theta_min * tau),
            dt,
        )
        return DALEC2Drivers(
            deltat=dt,
            exp_a8_tmax=jnp.exp(C.ACM_A8 * f.tmax),
            g_c=canopy_conductance(f.tmin, f.tmax),
            co2=f.co2,
            swrad=f.swrad,
            daylength_factor=C.ACM_A2 * s + C.ACM_A5,
            tau=tau,
            phi_f=phi_f,
            phi_on=phi_on,
            k_lab=k_lab,
            k_fol=k_fol,
            k_woo=k_woo,
            k_roo=k_roo,
            k_rh_lit=k_rh_lit,
            k_rh_som=k_rh_som,
            k_decomp=k_decomp,
            removed_frac=f.removed_frac,
            burned_frac=f.burned_frac,
        )

    def step(self, state, drivers_t, params):
        """One day: ``(state, drivers_t, params) -> (state, outputs_t)`` (see :func:`carbon_step`)."""
        new, out = carbon_step(state, drivers_t, params)
        return new, DALEC2Outputs(**out)

    def initial_state(self, values: Mapping) -> DALEC2State:
        """Initial pools from ``C_lab``...``C_som`` or ``clab_init``...``cs_init`` keys [gC m-2].

        Extra keys (e.g. process parameters) are ignored, so a full parameter mapping can be passed.
        """
        return _as_state(DALEC2State, values, INITIAL_POOL_KEYS)

    def params(self, values: Mapping) -> DALEC2Params:
        """``Params`` from a mapping holding (at least) every parameter name; extra keys are ignored."""
        missing = [k for k in self.Params._fields if k not in values]
        if missing:
            raise KeyError(f"parameter values are missing {missing}; expected {list(self.Params._fields)}")
        return self.Params(**{k: jnp.asarray(values[k], dtype=float) for k in self.Params._fields})

    @classmethod
    def forcing_from_arrays(
        cls,
        *,
        tmin,
        tmax,
        swrad,
        co2,
        doy,
        lat,
        run_day=None,
        removed_frac=None,
        burned_frac=None,
        deltat=None,
        **extra,
    ):
        """Build ``Forcing`` from numpy columns and a latitude, validating eagerly.

        Parameters
        ----------
        tmin, tmax
            Daily minimum and maximum air temperature [°C], shape (T,).
        swrad
            Shortwave radiation, daily total [MJ m-2 d-1] (W m-2 daily mean × 0.0864).
        co2
            Atmospheric CO2 [ppm].
        doy
            Day of year at the end of each step [d].
        lat
            Site latitude [degrees_north], scalar (repeated for every day) or shape (T,).
        run_day
            Phenology clock [d]; default 1..T.
        removed_frac, burned_frac
            Disturbance fractions [-]; default 0.
        deltat
            Step length [d]; default 1.
        **extra
            Further columns required by a subclass's ``Forcing`` (e.g. ``precip``, ``vpd``).

        Returns
        -------
        Forcing
            Leaves are float JAX arrays of shape (T,).
        """
        cols = dict(
            tmin=tmin, tmax=tmax, swrad=swrad, co2=co2, doy=doy, lat=lat, run_day=run_day,
            removed_frac=removed_frac, burned_frac=burned_frac, deltat=deltat, **extra,
        )
        return build_forcing(cls.Forcing, cls.name, cols)
