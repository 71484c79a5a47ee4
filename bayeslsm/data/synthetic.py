"""A small stochastic weather generator: the embedded default forcing for demos, tests and teaching.

Daily series for one or more sites (documented simplifications, not a climate model):

* mean air temperature: annual harmonic ``T = T_mean - A cos(2π (doy - 15) / 365.25)`` plus AR(1)
  anomalies (lag-1 autocorrelation 0.7, sd 2.5 °C), ``tmin/tmax = T ∓ DTR/2`` with a diurnal range
  that grows on clear days;
* shortwave radiation: extraterrestrial radiation R_a from latitude and day of year (Allen et al. 1998,
  FAO-56 eqs. 21–25, ISBN 92-5-104219-5) times an Ångström transmissivity 0.25 + 0.5·s with a random
  sunshine fraction s (lower on wet days);
* precipitation: first-order Markov occurrence (p(wet|dry)=0.25, p(wet|wet)=0.6) with gamma amounts
  (shape 0.8, mean 7 mm) — Richardson 1981, doi:10.1029/WR017i001p00182;
* VPD from the saturation vapour pressure at T (FAO-56 eq. 11) times (1 − RH), RH higher on wet days;
* CO2 rising linearly from 380 ppm by 2 ppm per year; PAR = 0.5 × shortwave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["weather_generator"]

_UNITS = {
    "tmin": ("degC", "daily minimum air temperature"),
    "tmax": ("degC", "daily maximum air temperature"),
    "swrad": ("MJ m-2 d-1", "incoming shortwave radiation, daily total"),
    "par": ("MJ m-2 d-1", "photosynthetically active radiation, daily total"),
    "co2": ("ppm", "atmospheric CO2 mole fraction"),
    "precip": ("mm d-1", "precipitation"),
    "vpd": ("kPa", "vapour pressure deficit, daily mean"),
}


def _extraterrestrial_radiation(lat_deg: float, doy: np.ndarray) -> np.ndarray:
    """R_a [MJ m-2 d-1], FAO-56 eq. 21 with eqs. 23–25."""
    gsc = 0.0820  # solar constant [MJ m-2 min-1]
    phi = np.deg2rad(lat_deg)
    dr = 1 + 0.033 * np.cos(2 * np.pi * doy / 365)
    delta = 0.409 * np.sin(2 * np.pi * doy / 365 - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    return 24 * 60 / np.pi * gsc * dr * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))


def weather_generator(
    years: int = 3,
    start: str = "2001-01-01",
    lat: float = 50.0,
    t_mean: float = 9.0,
    t_amplitude: float = 9.0,
    seed: int = 0,
    site: str = "synthetic",
) -> xr.Dataset:
    """Generate daily forcing for one site.

    Parameters
    ----------
    years
        Length in years (whole calendar years from ``start``).
    start
        First day (ISO date).
    lat
        Latitude [degrees_north].
    t_mean, t_amplitude
        Annual mean and half the annual range of daily mean temperature [degC].
    seed
        Random seed (same seed -> identical series).
    site
        Site name stored as an attribute.

    Returns
    -------
    xarray.Dataset
        Variables tmin, tmax, swrad, par, co2, precip, vpd on a daily ``time`` axis with ``units`` and
        ``long_name`` attributes; coordinate ``lat``; attrs ``site`` and ``lat``.

    Examples
    --------
    >>> ds = weather_generator(years=1, lat=45.0, seed=1)
    >>> sorted(ds.data_vars)
    ['co2', 'par', 'precip', 'swrad', 'tmax', 'tmin', 'vpd']
    """
    if years < 1:
        raise ValueError(f"`years` must be >= 1; got {years}")
    if not -90 <= lat <= 90:
        raise ValueError(f"`lat` must be within [-90, 90] degrees; got {lat}")
    rng = np.random.default_rng(seed)
    start_ts = pd.Timestamp(start)
    time = pd.date_range(start_ts, start_ts + pd.DateOffset(years=years) - pd.Timedelta(days=1), freq="D")
    n = time.size
    doy = time.day_of_year.values.astype(float)
    hemi = 1.0 if lat >= 0 else -1.0

    # precipitation occurrence (Markov chain) and amounts (gamma)
    wet = np.zeros(n, dtype=bool)
    u = rng.random(n)
    for i in range(1, n):
        wet[i] = u[i] < (0.6 if wet[i - 1] else 0.25)
    precip = np.where(wet, rng.gamma(0.8, 7.0 / 0.8, n), 0.0)

    # temperature: harmonic + AR(1) anomaly
    anom = np.zeros(n)
    eps = rng.normal(0.0, 2.5 * np.sqrt(1 - 0.7**2), n)
    for i in range(1, n):
        anom[i] = 0.7 * anom[i - 1] + eps[i]
    t = t_mean - hemi * t_amplitude * np.cos(2 * np.pi * (doy - 15) / 365.25) + anom

    sun = np.clip(rng.beta(4, 2, n) - 0.35 * wet, 0.05, 1.0)
    ra = _extraterrestrial_radiation(lat, doy)
    swrad = np.maximum((0.25 + 0.5 * sun) * ra, 0.1)
    dtr = 5.0 + 8.0 * sun
    tmin, tmax = t - dtr / 2, t + dtr / 2

    es = 0.6108 * np.exp(17.27 * t / (t + 237.3))  # FAO-56 eq. 11 [kPa]
    rh = np.clip(0.55 + 0.25 * wet + rng.normal(0, 0.08, n), 0.2, 0.98)
    vpd = es * (1 - rh)
    co2 = 380.0 + 2.0 * (np.arange(n) / 365.25)

    data = {"tmin": tmin, "tmax": tmax, "swrad": swrad, "par": 0.5 * swrad, "co2": co2, "precip": precip, "vpd": vpd}
    ds = xr.Dataset({k: ("time", v) for k, v in data.items()}, coords={"time": time, "lat": float(lat)})
    for k, (units, long_name) in _UNITS.items():
        ds[k].attrs.update(units=units, long_name=long_name)
    ds["lat"].attrs.update(units="degrees_north", long_name="latitude")
    ds.attrs.update(site=site, lat=float(lat), source=f"bayeslsm.data.weather_generator(seed={seed})")
    return ds
