"""Site attributes for the covariate hierarchy: climate from each site's forcing, latitude and elevation.

A hierarchy with site covariates (:class:`bayeslsm.infer.Hierarchy` ``covariates=...``) regresses site
parameters on attributes of the sites, so that an unseen site is predicted from its PFT mean *plus* what
its attributes say (Gelman & Hill 2007, *Data Analysis Using Regression and Multilevel/Hierarchical
Models*, ch. 12.6). This module defines the attributes bayeslsm can compute (:data:`COVARIATES`) and
computes them (:func:`site_covariates`):

=======  ===============  ============================================================================
name     units            definition (over the period given, usually the calibration period)
=======  ===============  ============================================================================
mat      degC             mean of the daily mean air temperature ``ta``
map      mm y-1           mean daily precipitation ``precip`` x 365.25 d y-1 (the annual total of a
                          whole-year period, a per-year rate otherwise)
mvpd     kPa              mean of the daily mean vapour pressure deficit ``vpd``
msw      MJ m-2 d-1       mean of the daily incoming shortwave radiation ``swrad``
lat      degrees_north    the site's latitude (``lat`` coordinate of the forcing)
elev     m                the site's elevation above sea level (``elev`` coordinate, or the reader's
                          ``elev`` attribute: :data:`bayeslsm.data.sites.SITES`, FluxDataKit site list)
=======  ===============  ============================================================================

Climate covariates come from the same forcing that drives the model (gap-filled FLUXNET/ONEFlux
``*_F`` variables in model units, :mod:`bayeslsm.data.fluxnet`), so a site without complete forcing over
the period has a missing covariate and is reported by name. Names and units are in the variable registry
(:mod:`bayeslsm.data.variables`).

Examples
--------
>>> from bayeslsm.data import weather_generator
>>> from bayeslsm.data.covariates import site_covariates
>>> cov = site_covariates(weather_generator(years=1, lat=50.0, seed=0), ["mat", "lat"])
>>> cov["lat"].item(), cov["mat"].attrs["units"]
(50.0, 'degC')
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from bayeslsm.data.variables import variable

__all__ = ["COVARIATES", "Covariate", "CovariateError", "site_covariates"]


class CovariateError(ValueError):
    """A covariate that cannot be computed: unknown name, missing forcing variable or site attribute."""


class Covariate(NamedTuple):
    """How one site covariate is obtained.

    Attributes
    ----------
    name
        Covariate name (a registry entry, :func:`bayeslsm.data.variables.variable`).
    source
        Forcing variable averaged over time, or ``None`` for a site attribute (coordinate).
    factor
        Multiplier applied to the time mean (``365.25`` for ``map``: mm d-1 -> mm y-1).
    """

    name: str
    source: str | None
    factor: float = 1.0


COVARIATES: dict[str, Covariate] = {
    "mat": Covariate("mat", "ta"),
    "map": Covariate("map", "precip", 365.25),
    "mvpd": Covariate("mvpd", "vpd"),
    "msw": Covariate("msw", "swrad"),
    "lat": Covariate("lat", None),
    "elev": Covariate("elev", None),
}
"""Covariate name -> :class:`Covariate` (table in the module docstring)."""


def _attribute(forcing, name: str):
    """Site attribute ``name`` as a DataArray (scalar or along ``site``)."""
    import xarray as xr

    if name in forcing.coords or name in forcing.data_vars:
        da = forcing[name]
        if "time" in da.dims:
            raise CovariateError(f"site attribute {name!r} varies along `time`; expected one value per site")
        return da.astype(float)
    if name in forcing.attrs and "site" not in forcing.dims:
        return xr.DataArray(float(forcing.attrs[name]))
    raise CovariateError(
        f"covariate {name!r} needs a {name!r} coordinate of the forcing (one value per site) or, for a single-site "
        f"forcing, a {name!r} attribute (the readers set it from bayeslsm.data.sites.SITES); found coordinates "
        f"{sorted(map(str, forcing.coords))} and attributes {sorted(forcing.attrs)}")


def site_covariates(forcing, names: Sequence[str], *, period: tuple[Any, Any] | None = None):
    """Covariates ``names`` of every site of ``forcing`` (table in the module docstring).

    Parameters
    ----------
    forcing
        ``xarray.Dataset`` with a ``time`` dimension and optionally ``site``, in model units
        (:mod:`bayeslsm.data.variables`): ``ta`` [degC], ``precip`` [mm d-1], ``vpd`` [kPa], ``swrad``
        [MJ m-2 d-1] as needed, and ``lat`` [degrees_north] / ``elev`` [m] coordinates (or attributes of a
        single-site forcing) for those covariates.
    names
        Covariate names, keys of :data:`COVARIATES`.
    period
        ``(start, end)`` inclusive dates over which the climate covariates are averaged; default the
        whole forcing.

    Returns
    -------
    xarray.Dataset
        One variable per name, dims ``(site,)`` (or scalar without ``site``), with registry attributes and
        a ``description`` of how it was computed. A site with a missing forcing day in the period gets NaN
        for that climate covariate (the mean is not taken over an incomplete record).

    Raises
    ------
    CovariateError
        Unknown name, missing forcing variable, no day in ``period``, missing site attribute.
    """
    import xarray as xr

    names = list(names)
    unknown = [n for n in names if n not in COVARIATES]
    if unknown:
        raise CovariateError(f"unknown site covariate(s) {unknown}; expected some of {list(COVARIATES)}")
    sel = forcing
    where = "the whole forcing"
    if period is not None:
        t0, t1 = (np.datetime64(str(p)[:10], "ns") for p in period)
        sel = forcing.sel(time=slice(t0, t1))
        where = f"{str(period[0])[:10]}..{str(period[1])[:10]}"
        if sel.sizes.get("time", 0) == 0:
            raise CovariateError(f"`period` {where} has no day of the forcing "
                                 f"({forcing['time'].values[0]} .. {forcing['time'].values[-1]})")
    out = {}
    for n in names:
        cov = COVARIATES[n]
        reg = variable(n)
        if cov.source is None:
            da = _attribute(forcing, n)
            desc = f"site attribute {n!r}"
        else:
            if cov.source not in sel.data_vars:
                raise CovariateError(f"covariate {n!r} needs forcing variable {cov.source!r}; the forcing has "
                                     f"{sorted(map(str, sel.data_vars))}")
            # skipna=False: a gap would bias the mean towards the seasons that are present
            da = sel[cov.source].astype(float).mean("time", skipna=False) * cov.factor
            desc = (f"mean of daily {cov.source!r} over {where}"
                    + (f" x {cov.factor:g}" if cov.factor != 1.0 else ""))
        da = da.drop_vars([c for c in da.coords if c != "site"]).copy()
        da.attrs = {**reg.attrs(), "description": desc}  # not the source variable's (reader columns, counts)
        out[n] = da
    return xr.Dataset(out)
