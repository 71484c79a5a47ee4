"""Numba baseline for the benchmarks: DALEC2 (C1 f2py variant) as a plain compiled loop.

Written from ``DALEC_REFERENCE.md`` independently of :mod:`bayeslsm.lsm.dalec2`; the benchmark checks
that both agree before timing anything.  Like the JAX model, the parameter-only work (phenology
factors, day length, temperature factor) is hoisted out of the daily loop, so the comparison is
between equally clever implementations.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

f32 = lambda x: float(np.float32(x))  # noqa: E731  single-precision literals of the Fortran
PI = f32(3.1415927)
A2, A3, A4, A5 = f32(0.0156935), f32(4.22273), f32(208.868), f32(0.0453194)
A6, A7, A8, A9, A10 = f32(0.37836), f32(7.19298), f32(0.011136), f32(2.1001), f32(0.789798)
DECL = f32(23.45)
SQRT2 = f32(math.sqrt(2.0))
LMIN = f32(1.001)
ML = f32((np.log(np.float32(1.001)) - np.log(np.float32(0.001))) / np.float32(2.0))
C = [f32(0.000023599784710), f32(0.000332730053021), f32(0.000901865258885), f32(-0.005437736864888),
     f32(-0.020836027517787), f32(0.126972018064287), f32(-0.188459767342504)]


def _poly(x):
    return C[0] * x**6 + C[1] * x**5 + C[2] * x**4 + C[3] * x**3 + C[4] * x**2 + C[5] * x + C[6]


def prepare(p, run_day, tmin, tmax, doy, lat):
    """Parameter/forcing-only arrays (vectorised numpy)."""
    (theta_min, f_auto, f_fol, f_roo, clspan, theta_woo, theta_roo, theta_lit, theta_som, Theta, ceff,
     d_onset, f_lab, cronset, d_fall, crfall, clma) = p
    sf = 365.25 / PI
    wf = crfall * SQRT2 / 2
    wl = cronset * SQRT2 / 2
    mf = 0.5 * (math.log(clspan) - math.log(clspan - 1))
    of = _poly(math.log(clspan - 1)) * wf
    ol = _poly(math.log(LMIN - 1)) * wl
    k = 2 / math.sqrt(PI)
    phi_f = k * (mf / wf) * np.exp(-((sf * np.sin((run_day - d_fall + of) / sf) / wf) ** 2))
    phi_on = k * (ML / wl) * np.exp(-((sf * np.sin((run_day - d_onset + ol) / sf) / wl) ** 2))
    tau = np.exp(Theta * 0.5 * (tmin + tmax))
    D = np.ceil(doy - 0.5)
    dec = -np.arcsin(math.sin(DECL * PI / 180) * np.cos(2 * PI * (D + 10) / 365))
    ph = lat * PI / 180
    rho = np.clip((math.sin(ph) * np.sin(dec)) / (math.cos(ph) * np.cos(dec)), -1, 1)
    s = 12 * (1 + (2 / PI) * np.arcsin(rho))
    gc = 2.0**A10 / (A6 + 0.5 * (tmax - tmin))
    emax = np.exp(A8 * tmax)
    return phi_f, phi_on, tau, s, gc, emax


@njit(cache=True, fastmath=False)
def run(p, pools0, phi_f, phi_on, tau, s, gc, emax, rad, co2, out_nee, out_gpp, out_lai):
    theta_min, f_auto, f_fol, f_roo = p[0], p[1], p[2], p[3]
    theta_woo, theta_roo, theta_lit, theta_som = p[5], p[6], p[7], p[8]
    ceff, f_lab, clma = p[10], p[12], p[16]
    clab, cfol, croo, cwoo, clit, csom = pools0[0], pools0[1], pools0[2], pools0[3], pools0[4], pools0[5]
    q = A3 - A4
    for n in range(rad.shape[0]):
        lai = cfol / clma
        pn = lai * ceff * emax[n]
        pp = pn / gc[n]
        b = co2[n] + q - pp
        ci = 0.5 * (b + math.sqrt(b * b - 4 * (co2[n] * q - pp * A3)))
        e0 = A7 * lai * lai / (lai * lai + A9)
        pd = gc[n] * (co2[n] - ci)
        gpp = e0 * rad[n] * pd / (e0 * rad[n] + pd) * (A2 * s[n] + A5)
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
        out_nee[n] = -gpp + ra + rhlit + rhsom
        out_gpp[n] = gpp
        out_lai[n] = lai
        clab = clab + (alab - rlab)
        cfol = cfol + (afol - lfol + rlab)
        croo = croo + (aroo - lroo)
        cwoo = cwoo + (awoo - lwoo)
        clit = clit + (lfol + lroo - rhlit - dlit)
        csom = csom + (dlit - rhsom + lwoo)
    return clab, cfol, croo, cwoo, clit, csom


def simulate(p, pools0, run_day, tmin, tmax, rad, co2, doy, lat):
    """Full numba run (prepare + loop); returns NEE, GPP, LAI arrays."""
    pre = prepare(p, run_day, tmin, tmax, doy, lat)
    n = rad.shape[0]
    nee, gpp, lai = np.empty(n), np.empty(n), np.empty(n)
    run(np.asarray(p, float), np.asarray(pools0, float), *pre, rad, co2, nee, gpp, lai)
    return nee, gpp, lai
