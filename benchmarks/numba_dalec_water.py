"""Numba baseline for the benchmarks: DALEC2Water (DALEC2 + soil-water bucket, Penman–Monteith ET, β(W)).

The carbon part is :mod:`numba_dalec` (the DALEC2 loop, Δt = 1 d, no disturbance); the water part follows
the equations in the docstring of :mod:`bayeslsm.lsm.dalec2_water` (FAO-56 radiation, Penman–Monteith in
conductance form, equilibrium soil evaporation, supply-limited bucket), written out here with the FAO-56
constants as literals.  As in the JAX model, everything that depends only on parameters and forcing is
computed vectorised before the daily loop.  The benchmark checks that this loop and the JAX model agree
(to ~1e-10 relative) before timing anything.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba_dalec import A2, A3, A4, A5, A7, A9
from numba_dalec import prepare as prepare_carbon

# FAO-56 (Allen et al. 1998): eqs. 7, 8, 11, 13, 21-25, 37, 39; Annex 3 eq. 3-5
LAMBDA = 2.45e6  # [J kg-1]
CP = 1013.0  # [J kg-1 K-1]
P_KPA = 101.3
GAMMA_PSY = CP * P_KPA / (0.622 * LAMBDA)  # [kPa K-1]
SIGMA_DAY = 4.903e-9  # [MJ K-4 m-2 d-1]
GSC = 0.0820  # [MJ m-2 min-1]
TK = 273.16
TO_MM = 86400.0 / LAMBDA  # [W m-2] -> [mm d-1]

WATER_NAMES = ("W_max", "beta_crit", "k_drain", "g_max", "k_ext", "g_a", "albedo")


def _svp(t):
    return 0.6108 * np.exp(17.27 * t / (t + 237.3))


def prepare_water(albedo, tmin, tmax, swrad, vpd, doy, lat):
    """Available energy A [W m-2], Δ [kPa K-1] and ρ_a·c_p·VPD, one value per day (vectorised numpy)."""
    vpd = np.maximum(vpd, 0.0)
    tm = 0.5 * (tmin + tmax)
    es = 0.5 * (_svp(tmax) + _svp(tmin))
    ea = np.maximum(es - vpd, 0.0)
    phi = np.deg2rad(lat)
    dr = 1.0 + 0.033 * np.cos(2.0 * np.pi * doy / 365.0)
    dec = 0.409 * np.sin(2.0 * np.pi * doy / 365.0 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1.0, 1.0))
    ra = (24.0 * 60.0 / np.pi) * GSC * dr * (ws * np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.sin(ws))
    rso = 0.75 * ra
    rel = np.clip(swrad / np.maximum(rso, 1e-6), 0.25 / 0.75, 1.0)
    t4 = 0.5 * ((tmax + TK) ** 4 + (tmin + TK) ** 4)
    rnl = SIGMA_DAY * t4 * (0.34 - 0.14 * np.sqrt(ea)) * (1.35 * rel - 0.35)
    rn = (1.0 - albedo) * swrad - rnl
    avail = np.maximum(rn, 0.0) * (1.0e6 / 86400.0)
    delta = 4098.0 * _svp(tm) / (tm + 237.3) ** 2
    rho = P_KPA * 1.0e3 / (1.01 * (tm + TK) * 287.0)
    return avail, delta, rho * CP * vpd


@njit(cache=True, fastmath=False)
def run(p, wp, pools0, w0, phi_f, phi_on, tau, s, gc, emax, rad, co2, avail, delta, rcv, precip,
        out_nee, out_gpp, out_le, out_w):
    theta_min, f_auto, f_fol, f_roo = p[0], p[1], p[2], p[3]
    theta_woo, theta_roo, theta_lit, theta_som = p[5], p[6], p[7], p[8]
    ceff, f_lab, clma = p[10], p[12], p[16]
    w_max, beta_crit, g_max, k_ext, g_a = wp[0], wp[1], wp[3], wp[4], wp[5] * 1.0e-3
    clab, cfol, croo, cwoo, clit, csom = pools0[0], pools0[1], pools0[2], pools0[3], pools0[4], pools0[5]
    w = w0
    q = A3 - A4
    for n in range(rad.shape[0]):
        lai = cfol / clma
        beta = min(max(w / (beta_crit * w_max), 0.0), 1.0)
        # ACM GPP (numba_dalec.run) times beta
        pn = lai * ceff * emax[n]
        pp = pn / gc[n]
        b = co2[n] + q - pp
        ci = 0.5 * (b + math.sqrt(b * b - 4 * (co2[n] * q - pp * A3)))
        e0 = A7 * lai * lai / (lai * lai + A9)
        pd = gc[n] * (co2[n] - ci)
        gpp = e0 * rad[n] * pd / (e0 * rad[n] + pd) * (A2 * s[n] + A5) * beta
        ra = f_auto * gpp
        afol = (gpp - ra) * f_fol
        alab = (gpp - ra - afol) * f_lab
        aroo = (gpp - ra - afol - alab) * f_roo
        awoo = gpp - ra - afol - alab - aroo
        rlab = clab * (1 - (1 - phi_on[n]))
        lfol = cfol * (1 - (1 - phi_f[n]))
        lwoo = cwoo * (1 - (1 - theta_woo))
        lroo = croo * (1 - (1 - theta_roo))
        rhlit = clit * (1 - (1 - tau[n] * theta_lit))
        rhsom = csom * (1 - (1 - tau[n] * theta_som))
        dlit = clit * (1 - (1 - theta_min * tau[n]))
        # water: Penman-Monteith transpiration on the canopy's energy, equilibrium soil evaporation
        fc = 1.0 - math.exp(-k_ext * max(lai, 0.0))
        gs = g_max * 1.0e-3 * fc * beta
        d, a = delta[n], avail[n]
        transp_pot = gs * (d * fc * a + rcv[n] * g_a) / (gs * (d + GAMMA_PSY) + GAMMA_PSY * g_a) * TO_MM
        soil_pot = d / (d + GAMMA_PSY) * (1.0 - fc) * a * TO_MM * min(max(w / w_max, 0.0), 1.0)
        supply = w + precip[n]
        transp = min(transp_pot, supply)
        soil = min(soil_pot, supply - transp)
        w = min(max(w + (precip[n] - transp - soil), 0.0), w_max)
        out_nee[n] = -gpp + ra + rhlit + rhsom
        out_gpp[n] = gpp
        out_le[n] = (transp + soil) / TO_MM
        out_w[n] = w
        clab = clab + (alab - rlab)
        cfol = cfol + (afol - lfol + rlab)
        croo = croo + (aroo - lroo)
        cwoo = cwoo + (awoo - lwoo)
        clit = clit + (lfol + lroo - rhlit - dlit)
        csom = csom + (dlit - rhsom + lwoo)
    return clab, cfol, croo, cwoo, clit, csom, w


def simulate(p, wp, pools0, w0, run_day, tmin, tmax, rad, co2, doy, lat, precip, vpd):
    """Full numba run (prepare + loop); ``p`` the 17 DALEC2 parameters, ``wp`` the water parameters in
    :data:`WATER_NAMES` order.  Returns NEE [gC m-2 d-1], GPP, LE [W m-2] and end-of-day W [mm]."""
    phi_f, phi_on, tau, s, gc, emax = prepare_carbon(p, run_day, tmin, tmax, doy, lat)
    avail, delta, rcv = prepare_water(wp[6], tmin, tmax, rad, vpd, doy, lat)
    n = rad.shape[0]
    nee, gpp, le, w = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    run(np.asarray(p, float), np.asarray(wp, float), np.asarray(pools0, float), float(w0), phi_f, phi_on, tau, s,
        gc, emax, rad, co2, avail, delta, rcv, precip, nee, gpp, le, w)
    return nee, gpp, le, w
