"""Physical and model constants of the process models, with their units.

DALEC2 / ACM constants: why float32-rounded
-------------------------------------------
The reference implementation of DALEC2 (CARDAMOM's DALEC C1 f2py module, see
``../shared/reference/DALEC_REFERENCE.md`` §6) writes its constants as *default-real* Fortran
literals (no ``d0`` suffix).  The compiler rounds each literal to single precision first and only then
widens it to double, so the numbers the model actually uses are ``float(np.float32(printed))``, not the
printed decimals.  Typing the decimals (or using ``math.pi``) moves GPP by ~1e-5 relative and NEE near
its zero crossings by ~4e-4, far outside the 1e-9 golden tolerance.  Every such constant below is
therefore written as :func:`_f32` of the printed literal, and the resulting float64 value is quoted in
the comment.  Constants that are exact in binary (ΔΨ = −2, 365.25, 0.5 ...) need no rounding.

ACM (the Aggregated Canopy Model) is Williams et al. (1997), doi:10.1046/j.1365-2486.1997.00094.x, with
the REFLEX parameter set of Fox et al. (2009), doi:10.1016/j.agrformet.2009.05.002.  DALEC2 is Bloom &
Williams (2015), doi:10.5194/bg-12-1299-2015.

Water-cycle constants
---------------------
From Allen et al. (1998), *Crop evapotranspiration*, FAO Irrigation and Drainage Paper 56 ("FAO-56"),
ISBN 92-5-104219-5, in SI-derived units stated per constant.  These are ordinary float64 numbers.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    # DALEC2 / ACM
    "PI_F", "ACM_A2", "ACM_A3", "ACM_A4", "ACM_A5", "ACM_A6", "ACM_A7", "ACM_A8", "ACM_A9", "ACM_A10",
    "ACM_FOLIAR_N", "ACM_DELTA_PSI", "ACM_R_TOT", "DECLINATION_AMPLITUDE_DEG", "SQRT2_F",
    "PHENOLOGY_PERIOD", "LEAF_LIFESPAN_MIN", "M_LABILE", "PHENOLOGY_POLY",
    "FIRE_COMBUSTION", "FIRE_RESILIENCE",
    # water
    "LAMBDA_V", "SECONDS_PER_DAY", "MJ_PER_DAY_TO_W", "CP_AIR", "EPSILON_MW", "R_DRY_AIR",
    "P_ATM", "SIGMA_SB_DAY", "SOLAR_CONSTANT", "KELVIN", "SVP_A", "SVP_B", "SVP_C", "CLEAR_SKY_FACTOR",
    "LONGWAVE_EMISSIVITY", "LONGWAVE_CLOUD", "MIN_RELATIVE_SHORTWAVE", "EQUILIBRIUM_ALPHA_SOIL",
]


def _f32(x: float) -> float:
    """The float64 value of a single-precision Fortran literal: ``float(np.float32(x))``."""
    return float(np.float32(x))


# --- DALEC2 / ACM (DALEC_REFERENCE.md §4, §6) ------------------------------------------------------

PI_F = _f32(3.1415927)
"""π as the module sees it [-]: 3.1415927410125732 (float32 literal), not ``math.pi``."""

ACM_A2 = _f32(0.0156935)
"""ACM day-length coefficient [h-1]: 0.015693500638008118."""
ACM_A3 = _f32(4.22273)
"""ACM CO2 compensation point [ppm]: 4.2227301597595215."""
ACM_A4 = _f32(208.868)
"""ACM CO2 half-saturation [ppm]: 208.8679962158203."""
ACM_A5 = _f32(0.0453194)
"""ACM day-length constant [-]: 0.04531940072774887."""
ACM_A6 = _f32(0.37836)
"""ACM hydraulic coefficient multiplying R_tot [°C per unit R_tot]: 0.37836000323295593."""
ACM_A7 = _f32(7.19298)
"""ACM maximum canopy quantum yield [gC MJ-1]: 7.19297981262207."""
ACM_A8 = _f32(0.011136)
"""ACM Tmax exponent [°C-1]: 0.011136000044643879."""
ACM_A9 = _f32(2.1001)
"""ACM LAI half-saturation for quantum yield [m4 m-4]: 2.100100040435791."""
ACM_A10 = _f32(0.789798)
"""ACM hydraulic exponent [-]: 0.7897980213165283."""

ACM_FOLIAR_N = 1.0
"""Foliar nitrogen fixed in DALEC2's ACM call [gN m-2 leaf] (exact)."""
ACM_DELTA_PSI = -2.0
"""Leaf − soil water potential difference fixed in DALEC2's ACM call [MPa] (exact)."""
ACM_R_TOT = 1.0
"""Total plant–soil hydraulic resistance fixed in DALEC2's ACM call [relative] (exact)."""

DECLINATION_AMPLITUDE_DEG = _f32(23.45)
"""Solar declination amplitude [degrees]: 23.450000762939453."""

SQRT2_F = _f32(np.sqrt(2.0))
"""√2 as computed in single precision (``sqrt(2.)``) for the phenology widths [-]: 1.4142135381698608."""

PHENOLOGY_PERIOD = 365.25
"""Period of the phenology clock [d] (exact)."""

LEAF_LIFESPAN_MIN = _f32(1.001)
"""Lifespan constant in the labile-release offset ``o_l = P(ln(L_min − 1))·w_l`` [yr]: 1.0010000467300415."""

M_LABILE = float((np.log(np.float32(1.001)) - np.log(np.float32(0.001))) / np.float32(2.0))
"""Labile-release magnitude ``(ln 1.001 − ln 0.001)/2`` evaluated wholly in single precision [-]:
3.4543774127960205."""

PHENOLOGY_POLY = tuple(
    _f32(c)
    for c in (
        0.000023599784710,  # c6 -> 2.3599784981342964e-05
        0.000332730053021,  # c5 -> 0.0003327300655655563
        0.000901865258885,  # c4 -> 0.0009018652490340173
        -0.005437736864888,  # c3 -> -0.005437736865133047
        -0.020836027517787,  # c2 -> -0.020836027339100838
        0.126972018064287,  # c1 -> 0.1269720196723938
        -0.188459767342504,  # c0 -> -0.18845976889133453
    )
)
"""Coefficients (c6, c5, ..., c0) of the phenology offset polynomial P(x) [-] (Bloom & Williams 2015)."""

FIRE_COMBUSTION = tuple(_f32(c) for c in (0.1, 0.9, 0.1, 0.1, 0.5, 0.01))
"""Combustion completeness for (lab, fol, roo, woo, lit, som) in the disturbance path [-]
(float32 literals: 0.10000000149011612, 0.8999999761581421, ..., 0.5, 0.009999999776482582)."""

FIRE_RESILIENCE = 0.5
"""Fraction of non-combusted burned biomass that survives a fire [-] (exact)."""

# --- water cycle (FAO-56) --------------------------------------------------------------------------

LAMBDA_V = 2.45e6
"""Latent heat of vaporisation [J kg-1] (FAO-56, p. 31 and Annex 3, at ~20 °C)."""

SECONDS_PER_DAY = 86400.0
"""[s d-1]."""

MJ_PER_DAY_TO_W = 1.0e6 / SECONDS_PER_DAY
"""Converts a daily energy total [MJ m-2 d-1] to a daily mean flux density [W m-2]."""

CP_AIR = 1013.0
"""Specific heat of moist air at constant pressure [J kg-1 K-1] (FAO-56 eq. 8: 1.013e-3 MJ kg-1 °C-1)."""

EPSILON_MW = 0.622
"""Ratio of molecular weights of water vapour and dry air [-] (FAO-56 eq. 8)."""

R_DRY_AIR = 287.0
"""Specific gas constant of dry air [J kg-1 K-1] (FAO-56 Annex 3, eq. 3-5: 0.287 kJ kg-1 K-1)."""

P_ATM = 101.3
"""Surface air pressure used by the water cycle [kPa] (FAO-56 eq. 7 at sea level, z = 0)."""

SIGMA_SB_DAY = 4.903e-9
"""Stefan–Boltzmann constant per day [MJ K-4 m-2 d-1] (FAO-56 eq. 39)."""

SOLAR_CONSTANT = 0.0820
"""Solar constant [MJ m-2 min-1] (FAO-56 eq. 21)."""

KELVIN = 273.16
"""Offset °C -> K used by FAO-56 (eqs. 39 and 3-5) [K]."""

SVP_A, SVP_B, SVP_C = 0.6108, 17.27, 237.3
"""Saturation vapour pressure e°(T) = A·exp(B·T/(T + C)) [kPa], T in °C (FAO-56 eq. 11; Tetens form)."""

CLEAR_SKY_FACTOR = 0.75
"""Clear-sky shortwave R_so = 0.75·R_a at sea level [-] (FAO-56 eq. 37 with z = 0)."""

LONGWAVE_EMISSIVITY = (0.34, 0.14)
"""Net emissivity (a, b) in (a − b·√e_a), e_a in kPa [-, kPa-0.5] (FAO-56 eq. 39)."""

LONGWAVE_CLOUD = (1.35, 0.35)
"""Cloudiness factor (a, b) in (a·R_s/R_so − b) [-] (FAO-56 eq. 39)."""

MIN_RELATIVE_SHORTWAVE = 0.25 / 0.75
"""Lower bound of R_s/R_so [-]: Ångström values a_s = 0.25, a_s + b_s = 0.75 with no sunshine (FAO-56
eqs. 35 and 37); FAO-56 bounds the ratio above by 1.  Used where R_so vanishes (polar night)."""

EQUILIBRIUM_ALPHA_SOIL = 1.0
"""Priestley–Taylor coefficient of soil evaporation [-]: 1 = equilibrium evaporation (Priestley & Taylor
1972, doi:10.1175/1520-0493(1972)100<0081:OTAOSH>2.3.CO;2, use 1.26 for wet surfaces)."""
