"""The one variable and unit registry of bayeslsm: name, units, long name, CF standard name, FLUXNET column.

Every model output and forcing field (VSEM, DALEC2, DALEC2Water), every variable the readers of
:mod:`bayeslsm.data.fluxnet` and :mod:`bayeslsm.data.ameriflux` emit, and the parameter-free observation
streams (SIF) have one entry in :data:`VARIABLES`.  Units are CF-style strings in the package's model units
(``gC m-2 d-1`` for DALEC carbon fluxes, ``MJ m-2 d-1`` for daily radiation totals, ``mm d-1`` for water
fluxes); the data layer converts file units to these, nothing downstream converts.  The unit tables of the
process models (``DALEC2_OUTPUT_UNITS``, ``VSEM_OUTPUT_UNITS``, ... in :mod:`bayeslsm.lsm`) are checked
against this registry by ``tests/test_registry.py``.

One name has one meaning package-wide, with one documented exception: VSEM works in **kg** C, so its
``NEE`` and ``GPP`` are in ``kg m-2 d-1`` where DALEC and the flux-tower readers use ``gC m-2 d-1``.
Such model-specific entries live in :data:`MODEL_VARIABLES` and are found with
``variable(name, model="vsem")``.

This module is pure Python (no numpy, no xarray): :func:`attach_attrs` imports xarray when called.

Examples
--------
>>> from bayeslsm.data.variables import variable
>>> variable("NEE").units
'gC m-2 d-1'
>>> variable("NEE", model="vsem").units
'kg m-2 d-1'
>>> variable("swrad").fluxnet
'SW_IN_F'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODEL_VARIABLES", "PLAUSIBLE", "VARIABLES", "Plausible", "Variable", "attach_attrs", "variable"]


@dataclass(frozen=True)
class Variable:
    """One registry entry.

    Parameters
    ----------
    name
        Variable name as it appears in model ``Outputs``/``Forcing`` fields and reader Datasets.
    units
        CF-style units string in model units, e.g. ``"gC m-2 d-1"``; ``"1"`` for dimensionless.
    long_name
        Human-readable description (the xarray ``long_name`` attribute).
    standard_name
        CF standard name where one exists and fits, else ``None``.
    fluxnet
        The FLUXNET2015/ONEFlux (or FluxDataKit) column the readers take the variable from by default
        (file units may differ: the reader converts), else ``None``.
    cell_methods
        CF ``cell_methods`` where the daily aggregate is not a mean (``"time: minimum"``), else ``None``.
    """

    name: str
    units: str
    long_name: str
    standard_name: str | None = None
    fluxnet: str | None = None
    cell_methods: str | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"variable name must be a Python identifier; found {self.name!r}")
        for field in ("units", "long_name"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"variable {self.name!r}: `{field}` must be a non-empty string; found {value!r}")

    def attrs(self) -> dict[str, str]:
        """CF attributes: ``units``, ``long_name`` and, where set, ``standard_name`` and ``cell_methods``."""
        out = {"units": self.units, "long_name": self.long_name}
        if self.standard_name is not None:
            out["standard_name"] = self.standard_name
        if self.cell_methods is not None:
            out["cell_methods"] = self.cell_methods
        return out


@dataclass(frozen=True)
class Plausible:
    """Plausible daily values of a variable in its registry (model) units, checked by the readers.

    A reading error of a unit (MJ m-2 d-1 read as W m-2, kPa as hPa, m as mm) scales every value by the same
    factor, so it shows in the statistics of a record even where each value looks possible: the readers
    check every value against ``lower``/``upper`` and, for a record of at least a year, the record's maximum
    (the seasonal maximum) against ``annual_max`` and its mean against ``annual_mean``.

    Parameters
    ----------
    lower, upper
        Bounds of any single daily value (physical limits) [registry units]; ``None``: unbounded.
    annual_max
        ``(lo, hi)`` for the largest daily value of a record of at least 365 days, or ``None``.
    annual_mean
        ``(lo, hi)`` for the mean daily value of a record of at least 365 days, or ``None``.
    source
        Where the numbers come from.
    """

    lower: float | None = None
    upper: float | None = None
    annual_max: tuple[float, float] | None = None
    annual_mean: tuple[float, float] | None = None
    source: str = ""


# Observed in /work/shared/data (FLUXNET2015, FluxDataKit, ICOS daily files; 83 site-years with >= 300 days),
# measured 2026-12-03: annual max of daily-mean SW_IN 266-435 W m-2 (23-38 MJ m-2 d-1), annual mean 84-241
# W m-2; annual max of daily-mean VPD 5.6-46 hPa, annual mean 1.8-17.5 hPa; annual max of daily P 16.5-186 mm;
# annual max of daily-mean LE 71-245 W m-2, annual mean 20-76 W m-2; CO2 255-564 ppm.
_DATA = "daily files in /work/shared/data (83 site-years)"
PLAUSIBLE: dict[str, Plausible] = {
    "swrad": Plausible(-0.1, 50.0, (8.64, 43.2), (3.0, 26.0),
                       "a daily total cannot exceed the top-of-atmosphere insolation (at most ~47 MJ m-2 d-1 at "
                       "the summer solstice, Hartmann 2016, Global Physical Climatology, 2nd ed., Fig. 2.6); "
                       f"annual max 100-500 W m-2 and mean 35-300 W m-2 bracket the {_DATA} (266-435, 84-241)"),
    "par": Plausible(-0.05, 25.0, (4.32, 21.6), (1.5, 13.0), "half of swrad (PAR_FRACTION = 0.5)"),
    "precip": Plausible(0.0, 2000.0, (2.0, 2000.0), None,
                        "negative precipitation is impossible; the world 24-h record is 1825 mm (WMO archive, "
                        f"Foc-Foc, La Reunion, 1966); every year of the {_DATA} has a day of >= 16 mm"),
    "vpd": Plausible(-0.05, 10.0, (0.3, 8.0), (0.1, 5.0),
                     f"annual max 3-80 hPa and mean 1-50 hPa bracket the {_DATA} (5.6-46 hPa, 1.8-17.5 hPa); "
                     "a daily-mean VPD above 10 kPa needs air hotter than 50 degC and dry"),
    "co2": Plausible(150.0, 2000.0, None, (150.0, 2000.0),
                     "below glacial minima (~180 ppm) or above enrichment experiments is a unit mistake "
                     f"(the {_DATA}: 255-564 ppm)"),
    "ta": Plausible(-80.0, 60.0, None, (-40.0, 40.0), "Earth-surface extremes -89 to +57 degC; a mean in K is > 200"),
    "tmin": Plausible(-90.0, 60.0, None, (-45.0, 40.0), "Earth-surface extremes -89 to +57 degC"),
    "tmax": Plausible(-80.0, 65.0, None, (-40.0, 45.0), "Earth-surface extremes -89 to +57 degC"),
    "LE": Plausible(-200.0, 800.0, (25.0, 600.0), (-20.0, 300.0),
                    f"annual max 25-600 W m-2 brackets the {_DATA} (71-245 W m-2); in MJ m-2 d-1 it would be "
                    "11.6 times smaller"),
}
"""Variable name -> :class:`Plausible` daily values in registry units, with their source (the readers of
:mod:`bayeslsm.data` check them; see :func:`bayeslsm.data.plausibility.check_plausible`)."""

# Units used many times
_GC_FLUX = "gC m-2 d-1"
_GC_POOL = "gC m-2"
_MJ_DAY = "MJ m-2 d-1"
_MM_DAY = "mm d-1"

# CF standard names (CF standard name table as used by the CMIP6 Lmon table, data_specs 01.00.30)
_SN_GPP = "gross_primary_productivity_of_biomass_expressed_as_carbon"
_SN_RA = "surface_upward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_plant_respiration"
_SN_RH = "surface_upward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_heterotrophic_respiration"
_SN_FPAR = "fraction_of_surface_downwelling_photosynthetic_radiative_flux_absorbed_by_vegetation"


def _entries(*variables: Variable) -> dict[str, Variable]:
    out: dict[str, Variable] = {}
    for v in variables:
        if v.name in out:
            raise ValueError(f"variable {v.name!r} is registered twice")
        out[v.name] = v
    return out


V = Variable

VARIABLES: dict[str, Variable] = _entries(
    # ------------------------------------------------------------------ forcing (readers, generator, models)
    V("ta", "degC", "air temperature, daily mean", "air_temperature", "TA_F"),
    V("tmin", "degC", "daily minimum air temperature", "air_temperature", "TMIN_F_MDS", "time: minimum"),
    V("tmax", "degC", "daily maximum air temperature", "air_temperature", "TMAX_F_MDS", "time: maximum"),
    V("swrad", _MJ_DAY, "incoming shortwave radiation, daily total",
      "surface_downwelling_shortwave_flux_in_air", "SW_IN_F"),
    V("par", _MJ_DAY, "photosynthetically active radiation, daily total",
      "surface_downwelling_photosynthetic_radiative_flux_in_air", "SW_IN_F"),
    V("co2", "ppm", "atmospheric CO2 mole fraction", "mole_fraction_of_carbon_dioxide_in_air", "CO2_F_MDS"),
    V("precip", _MM_DAY, "precipitation", "lwe_precipitation_rate", "P_F"),
    V("vpd", "kPa", "vapour pressure deficit, daily mean", "water_vapor_saturation_deficit_in_air", "VPD_F"),
    V("doy", "1", "day of year"),
    V("run_day", "d", "day of run at the end of the step (the DALEC phenology clock)"),
    V("removed_frac", "1", "fraction of labile, foliar and wood carbon removed at the end of the step"),
    V("burned_frac", "1", "burned-area fraction at the end of the step"),
    V("deltat", "d", "length of the time step"),
    # ------------------------------------------------------------------ coordinates
    V("lat", "degrees_north", "latitude", "latitude"),
    V("lon", "degrees_east", "longitude", "longitude"),
    V("elev", "m", "site elevation above sea level", "height_above_mean_sea_level"),
    # ------------------------------------------------------------------ site covariates (bayeslsm.data.covariates)
    V("mat", "degC", "mean annual air temperature (mean of daily ta over a period)", "air_temperature",
      None, "time: mean"),
    V("map", "mm y-1", "mean annual precipitation (mean daily precip x 365.25 over a period)", None, None,
      "time: mean"),
    V("mvpd", "kPa", "mean vapour pressure deficit (mean of daily vpd over a period)",
      "water_vapor_saturation_deficit_in_air", None, "time: mean"),
    V("msw", _MJ_DAY, "mean incoming shortwave radiation (mean of daily swrad over a period)",
      "surface_downwelling_shortwave_flux_in_air", None, "time: mean"),
    # ------------------------------------------------------------------ observations (readers) and shared outputs
    V("NEE", _GC_FLUX, "net ecosystem exchange of CO2 (positive upward)", None, "NEE_VUT_REF"),
    V("NEE_unc", _GC_FLUX, "random uncertainty (sd) of NEE", None, "NEE_VUT_REF_RANDUNC"),
    V("NEE_qc", "1", "fraction of measured or good-quality gap-filled half-hours of NEE", None, "NEE_VUT_REF_QC"),
    V("GPP", _GC_FLUX, "gross primary productivity", _SN_GPP, "GPP_NT_VUT_REF"),
    V("GPP_unc", _GC_FLUX, "standard error of GPP across the USTAR-threshold ensemble", None, "GPP_NT_VUT_SE"),
    V("RECO", _GC_FLUX, "ecosystem respiration", None, "RECO_NT_VUT_REF"),
    V("RECO_unc", _GC_FLUX, "standard error of RECO across the USTAR-threshold ensemble", None, "RECO_NT_VUT_SE"),
    V("LE", "W m-2", "latent heat flux, daily mean", "surface_upward_latent_heat_flux", "LE_F_MDS"),
    V("LE_unc", "W m-2", "random uncertainty (sd) of LE", None, "LE_RANDUNC"),
    V("LE_qc", "1", "fraction of measured or good-quality gap-filled half-hours of LE", None, "LE_F_MDS_QC"),
    V("ET", _MM_DAY, "evapotranspiration (from LE)", None, "LE_F_MDS"),
    V("ET_unc", _MM_DAY, "uncertainty (sd) of ET (from LE_unc)", None, "LE_RANDUNC"),
    V("LAI", "m2 m-2", "leaf area index", "leaf_area_index", "LAI"),
    V("FPAR", "1", "fraction of absorbed photosynthetically active radiation", _SN_FPAR, "FPAR"),
    V("SIF", "mW m-2 nm-1 sr-1", "solar-induced chlorophyll fluorescence"),
    # ------------------------------------------------------------------ DALEC2 outputs (DALEC_REFERENCE.md §7)
    V("Ra", _GC_FLUX, "autotrophic respiration", _SN_RA),
    V("Rh", _GC_FLUX, "heterotrophic respiration (litter + SOM)", _SN_RH),
    V("Reco", _GC_FLUX, "ecosystem respiration Ra + Rh", None, "RECO_NT_VUT_REF"),
    V("f01_gpp", _GC_FLUX, "GPP (FLUXES 1)", _SN_GPP),
    V("f02_temprate", "1", "temperature factor exp(Theta * T_mean) (FLUXES 2)"),
    V("f03_ra", _GC_FLUX, "autotrophic respiration (FLUXES 3)", _SN_RA),
    V("f04_alloc_fol", _GC_FLUX, "allocation to foliage (FLUXES 4)"),
    V("f05_alloc_lab", _GC_FLUX, "allocation to labile (FLUXES 5)"),
    V("f06_alloc_roo", _GC_FLUX, "allocation to fine roots (FLUXES 6)"),
    V("f07_alloc_woo", _GC_FLUX, "allocation to wood (FLUXES 7)"),
    V("f08_lab_release", _GC_FLUX, "labile release to foliage (FLUXES 8)"),
    V("f09_leaffall_factor", "d-1", "leaf-fall factor (FLUXES 9)"),
    V("f10_leaf_litter", _GC_FLUX, "foliage to litter (FLUXES 10)"),
    V("f11_wood_litter", _GC_FLUX, "wood to SOM (FLUXES 11)"),
    V("f12_root_litter", _GC_FLUX, "fine roots to litter (FLUXES 12)"),
    V("f13_rh_litter", _GC_FLUX, "litter heterotrophic respiration (FLUXES 13)"),
    V("f14_rh_som", _GC_FLUX, "SOM heterotrophic respiration (FLUXES 14)"),
    V("f15_litter_to_som", _GC_FLUX, "litter decomposition to SOM (FLUXES 15)"),
    V("f16_labrelease_factor", "d-1", "labile-release factor (FLUXES 16)"),
    V("f17_fire_total", _GC_FLUX, "total fire emissions (FLUXES 17)"),
    V("f18_fire_lab", _GC_FLUX, "fire emissions from labile (FLUXES 18)"),
    V("f19_fire_fol", _GC_FLUX, "fire emissions from foliage (FLUXES 19)"),
    V("f20_fire_roo", _GC_FLUX, "fire emissions from fine roots (FLUXES 20)"),
    V("f21_fire_woo", _GC_FLUX, "fire emissions from wood (FLUXES 21)"),
    V("f22_fire_lit", _GC_FLUX, "fire emissions from litter (FLUXES 22)"),
    V("f23_fire_som", _GC_FLUX, "fire emissions from SOM (FLUXES 23)"),
    V("f24_firemort_lab_to_lit", _GC_FLUX, "fire mortality labile to litter (FLUXES 24)"),
    V("f25_firemort_fol_to_lit", _GC_FLUX, "fire mortality foliage to litter (FLUXES 25)"),
    V("f26_firemort_roo_to_lit", _GC_FLUX, "fire mortality fine roots to litter (FLUXES 26)"),
    V("f27_firemort_woo_to_som", _GC_FLUX, "fire mortality wood to SOM (FLUXES 27)"),
    V("f28_firemort_lit_to_som", _GC_FLUX, "fire mortality litter to SOM (FLUXES 28)"),
    V("removal", _GC_FLUX, "carbon removed from labile, foliage and wood (disturbance driver removed_frac)"),
    V("C_lab_end", _GC_POOL, "labile carbon at the end of the step"),
    V("C_fol_end", _GC_POOL, "foliar carbon at the end of the step", "leaf_mass_content_of_carbon"),
    V("C_roo_end", _GC_POOL, "fine-root carbon at the end of the step"),
    V("C_woo_end", _GC_POOL, "wood carbon at the end of the step"),
    V("C_lit_end", _GC_POOL, "litter carbon at the end of the step", "litter_mass_content_of_carbon"),
    V("C_som_end", _GC_POOL, "soil organic carbon at the end of the step"),
    # ------------------------------------------------------------------ DALEC2Water outputs (LE, ET shared above)
    V("transpiration", _MM_DAY, "canopy transpiration", "transpiration_flux"),
    V("soil_evap", _MM_DAY, "soil evaporation", "water_evaporation_flux_from_soil"),
    V("drainage", _MM_DAY, "drainage below the root zone", "subsurface_runoff_flux"),
    V("runoff", _MM_DAY, "surface runoff", "surface_runoff_flux"),
    V("Rn", "W m-2", "available energy max(R_n, 0), daily mean"),
    V("beta", "1", "water-stress factor applied to GPP and surface conductance"),
    V("W_end", "mm", "plant-available soil water at the end of the step"),
    # ------------------------------------------------------------------ VSEM outputs (kg C; NEE, GPP below)
    V("Cv", "kg m-2", "above-ground vegetation carbon at the end of the day"),
    V("Cs", "kg m-2", "soil organic carbon at the end of the day"),
    V("CR", "kg m-2", "below-ground vegetation carbon at the end of the day"),
)
"""Name -> :class:`Variable`, package-wide (model units)."""

MODEL_VARIABLES: dict[str, dict[str, Variable]] = {
    "vsem": _entries(
        V("NEE", "kg m-2 d-1", "net ecosystem exchange of CO2 (positive upward), VSEM", None, "NEE_VUT_REF"),
        V("GPP", "kg m-2 d-1", "gross primary productivity, VSEM", _SN_GPP, "GPP_NT_VUT_REF"),
    ),
}
"""Model name -> entries that differ from :data:`VARIABLES` for that model (VSEM's kg C fluxes)."""

del V


def variable(name: str, model: str | None = None) -> Variable:
    """Registry entry of ``name``, with ``model``'s own entry where the model differs (:data:`MODEL_VARIABLES`).

    Parameters
    ----------
    name
        Variable name (``"NEE"``, ``"tmin"``, ``"C_fol_end"``...).
    model
        Model name (``"vsem"``, ``"dalec2"``, ``"dalec2_water"``) or ``None`` for the package-wide entry.

    Returns
    -------
    Variable

    Raises
    ------
    KeyError
        ``name`` is not registered.

    Examples
    --------
    >>> variable("GPP", model="dalec2").units
    'gC m-2 d-1'
    """
    if model is not None and name in MODEL_VARIABLES.get(model, {}):
        return MODEL_VARIABLES[model][name]
    try:
        return VARIABLES[name]
    except KeyError:
        close = sorted(k for k in VARIABLES if k.lower() == name.lower() or k.lower().startswith(name.lower()[:3]))
        hint = f"; similar names: {close}" if close else ""
        raise KeyError(
            f"variable {name!r} is not in the registry bayeslsm.data.variables.VARIABLES{hint}; "
            f"add an entry there (name, units, long_name) before using it"
        ) from None


def attach_attrs(ds: Any, model: str | None = None, *, overwrite: bool = False, strict: bool = False) -> Any:
    """Return a copy of ``ds`` whose registered variables carry the registry's CF attributes.

    For every data variable and coordinate whose name is in the registry: ``units`` is set from the
    registry (an existing, different ``units`` is an error: convert the data first); ``long_name``,
    ``standard_name`` and ``cell_methods`` are set where missing (replaced when ``overwrite=True``).
    Names not in the registry (``time``, ``site``...) are left alone unless ``strict=True``.

    Parameters
    ----------
    ds
        ``xarray.Dataset`` (or ``xarray.DataArray``, looked up by its ``name``).
    model
        Model whose specific entries apply (``"vsem"``: NEE and GPP in kg C), or ``None``.
    overwrite
        Replace existing ``long_name``/``standard_name``/``cell_methods``.
    strict
        Raise ``KeyError`` for a data variable that is not registered.

    Returns
    -------
    Same type as ``ds``, a shallow copy (data shared, attributes new).

    Raises
    ------
    TypeError
        ``ds`` is not an xarray object.
    ValueError
        A variable's ``units`` attribute differs from the registry's.
    KeyError
        ``strict=True`` and a data variable is not registered.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = attach_attrs(xr.Dataset({"GPP": ("time", np.ones(3))}))
    >>> ds.GPP.attrs["units"], ds.GPP.attrs["long_name"]
    ('gC m-2 d-1', 'gross primary productivity')
    """
    import xarray as xr

    if isinstance(ds, xr.DataArray):
        if ds.name is None:
            raise TypeError("`ds` is a DataArray without a name; give it one (da.rename('NEE')) to look it up")
        return attach_attrs(ds.to_dataset(), model, overwrite=overwrite, strict=strict)[ds.name]
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"`ds` must be an xarray.Dataset or DataArray; found {type(ds).__name__}")
    out = ds.copy(deep=False)
    for name in [*out.data_vars, *out.coords]:
        try:
            var = variable(str(name), model)
        except KeyError:
            if strict and name in out.data_vars:
                raise
            continue
        attrs = dict(out[name].attrs)
        found = attrs.get("units")
        if found is not None and found != var.units:
            raise ValueError(
                f"variable {name!r} has units {found!r}; the registry expects {var.units!r}"
                + (f" for model {model!r}" if model else "")
                + ": convert the data in the data layer (or fix the attribute) before attaching registry attributes"
            )
        for key, value in var.attrs().items():
            if key == "units" or overwrite or key not in attrs:
                attrs[key] = value
        out.variables[name].attrs = attrs
    return out

