"""The data layer, the only part of bayeslsm that touches files.

* :mod:`~bayeslsm.data.variables`: the variable and unit registry (name, units, long_name, CF standard name,
  FLUXNET column) and :func:`attach_attrs`;
* :mod:`~bayeslsm.data.reference_io`: the reference formats (DALEC ``drivers.csv``, VSEM ``par.csv``,
  ``params.json``, golden-layout outputs), validated eagerly, written atomically;
* :mod:`~bayeslsm.data.fluxnet`, :mod:`~bayeslsm.data.ameriflux`: flux-tower readers (FLUXNET2015/ONEFlux,
  FluxDataKit, ERA-Interim drivers, AmeriFlux BASE) returning xarray Datasets in model units;
* :mod:`~bayeslsm.data.sites`, :mod:`~bayeslsm.data.cache`: the site table and the verified dataset cache;
* :func:`weather_generator`: generated daily forcing for demos and tests.
"""

from bayeslsm.data.ameriflux import read_ameriflux_base, read_badm
from bayeslsm.data.atomic import atomic_path, write_text_atomic
from bayeslsm.data.cache import REGISTRY, DatasetHashError, DatasetNotFoundError, fetch
from bayeslsm.data.fluxnet import (
    DataFileError,
    DataQualityWarning,
    EmptyFileError,
    MissingVariableError,
    NoOverlapError,
    TimeAxisError,
    TimestampError,
    UnitsError,
    detect_product,
    read_era_drivers,
    read_fluxnet,
    tminmax_from_day_night,
)
from bayeslsm.data.reference_io import (
    DALEC_DRIVER_COLUMNS,
    DALEC_OUTPUT_COLUMNS,
    DALEC_WATER_DRIVER_COLUMNS,
    VSEM_DRIVER_COLUMNS,
    VSEM_OUTPUT_COLUMNS,
    DalecDrivers,
    DriverFileError,
    OutputFolderError,
    ParameterSet,
    ParamsFileError,
    VsemDrivers,
    check_output_dir,
    check_output_path,
    read_dalec_drivers,
    read_params,
    read_vsem_par,
    write_dalec_drivers,
    write_dalec_outputs,
    write_params,
    write_table,
    write_vsem_outputs,
    write_vsem_par,
)
from bayeslsm.data.sites import IGBP_TO_PFT, PFTS, SITES, SiteInfo, igbp_to_pft, site_info
from bayeslsm.data.covariates import COVARIATES, Covariate, CovariateError, site_covariates
from bayeslsm.data.plausibility import OutOfBoundsWarning
from bayeslsm.data.synthetic import weather_generator
from bayeslsm.data.variables import (  # first: pure Python
    MODEL_VARIABLES,
    PLAUSIBLE,
    VARIABLES,
    Plausible,
    Variable,
    attach_attrs,
    variable,
)  # first: pure Python

__all__ = [
    # atomic writes
    "atomic_path",
    "write_text_atomic",
    # variables
    "MODEL_VARIABLES",
    "PLAUSIBLE",
    "OutOfBoundsWarning",
    "Plausible",
    "VARIABLES",
    "Variable",
    "attach_attrs",
    "variable",
    # reference formats
    "DALEC_DRIVER_COLUMNS",
    "DALEC_OUTPUT_COLUMNS",
    "DALEC_WATER_DRIVER_COLUMNS",
    "VSEM_DRIVER_COLUMNS",
    "VSEM_OUTPUT_COLUMNS",
    "DalecDrivers",
    "DriverFileError",
    "OutputFolderError",
    "ParameterSet",
    "ParamsFileError",
    "VsemDrivers",
    "check_output_dir",
    "check_output_path",
    "read_dalec_drivers",
    "read_params",
    "read_vsem_par",
    "write_dalec_drivers",
    "write_dalec_outputs",
    "write_params",
    "write_table",
    "write_vsem_outputs",
    "write_vsem_par",
    # flux-tower readers
    "DataFileError",
    "DataQualityWarning",
    "EmptyFileError",
    "MissingVariableError",
    "NoOverlapError",
    "TimeAxisError",
    "TimestampError",
    "UnitsError",
    "detect_product",
    "read_era_drivers",
    "read_fluxnet",
    "tminmax_from_day_night",
    "read_ameriflux_base",
    "read_badm",
    # site covariates
    "COVARIATES",
    "Covariate",
    "CovariateError",
    "site_covariates",
    # sites and dataset cache
    "IGBP_TO_PFT",
    "PFTS",
    "SITES",
    "SiteInfo",
    "igbp_to_pft",
    "site_info",
    "REGISTRY",
    "DatasetHashError",
    "DatasetNotFoundError",
    "fetch",
    # generated forcing
    "weather_generator",
]
