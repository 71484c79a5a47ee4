"""The variable and unit registry (bayeslsm.data.variables): every model output and forcing field, every
variable the readers emit, and the models' own unit tables agree with it; attach_attrs behaves."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

from bayeslsm.data import (
    DALEC_WATER_DRIVER_COLUMNS,
    MODEL_VARIABLES,
    VARIABLES,
    DataQualityWarning,
    Variable,
    attach_attrs,
    fluxnet,
    read_ameriflux_base,
    read_era_drivers,
    read_fluxnet,
    variable,
    weather_generator,
)
from bayeslsm.lsm import (
    DALEC2_OUTPUT_UNITS,
    DALEC2_WATER_OUTPUT_UNITS,
    MODELS,
    VSEM_OUTPUT_UNITS,
)

READER_FILES = {
    "oneflux": "icos_ww2020/FLX_FI-Ken_FLUXNET2015_FULLSET_DD_2018-2020_beta-3.csv",
    "fluxdatakit": "fluxdatakit/FLX_FR-Pue_FLUXDATAKIT_FULLSET_DD_2000_2014_2-3.csv",
    "era": "icos_ww2020/FLX_FI-Qvd_FLUXNET2015_ERAI_DD_1989-2020_beta-3.csv",
    "ameriflux": "ameriflux_base_example/AMF_US-CRT_BASE_HH_2-5.csv",
}
# What the readers document (bayeslsm/data/fluxnet.py and ameriflux.py module docstrings)
READER_FORCING = {"ta", "tmin", "tmax", "swrad", "par", "co2", "precip", "vpd", "doy"}
READER_OBS = {"NEE", "NEE_unc", "NEE_qc", "GPP", "GPP_unc", "RECO", "RECO_unc", "LE", "LE_unc", "LE_qc", "ET",
              "ET_unc", "LAI", "FPAR"}


def _assert_entry(name: str, model: str | None = None) -> Variable:
    var = variable(name, model)
    assert var.name == name
    assert isinstance(var.units, str) and var.units.strip(), f"{name}: empty units"
    assert isinstance(var.long_name, str) and var.long_name.strip(), f"{name}: empty long_name"
    return var


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_every_model_output_and_forcing_field_is_registered(model_name):
    model = MODELS[model_name]
    fields = {*model.Outputs._fields, *model.Forcing._fields}
    missing = sorted(f for f in fields if f not in VARIABLES and f not in MODEL_VARIABLES.get(model_name, {}))
    assert not missing, f"{model_name}: not in the registry: {missing}"
    for f in fields:
        _assert_entry(f, model_name)


@pytest.mark.parametrize(
    "model_name, table",
    [("dalec2", DALEC2_OUTPUT_UNITS), ("dalec2_water", DALEC2_WATER_OUTPUT_UNITS), ("vsem", VSEM_OUTPUT_UNITS)],
)
def test_model_unit_tables_agree_with_registry(model_name, table):
    assert list(table) == list(MODELS[model_name].Outputs._fields)
    disagree = {}
    for name, entry in table.items():
        units = entry[0] if isinstance(entry, tuple) else entry
        if variable(name, model_name).units != units:
            disagree[name] = (units, variable(name, model_name).units)
    assert not disagree, f"{model_name}: (model table, registry) units differ: {disagree}"


def test_vsem_carbon_is_kg_and_dalec_is_g():
    assert variable("NEE", "vsem").units == "kg m-2 d-1" and variable("GPP", "vsem").units == "kg m-2 d-1"
    assert variable("NEE", "dalec2").units == variable("NEE").units == "gC m-2 d-1"
    assert variable("Cv").units == variable("CR").units == "kg m-2"
    # a model without overrides sees the package-wide entries
    assert variable("LE", "dalec2_water") is VARIABLES["LE"]


def test_every_reader_variable_is_registered(data_dir):
    emitted: dict[str, set[str]] = {"data_vars": set(), "coords": set()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # the readers' data caveats are tested elsewhere
        datasets = [
            *read_fluxnet(data_dir / READER_FILES["oneflux"]),
            *read_fluxnet(data_dir / READER_FILES["fluxdatakit"]),
            read_era_drivers(data_dir / READER_FILES["era"]),
            *read_ameriflux_base(data_dir / READER_FILES["ameriflux"], min_coverage=0.5),
            weather_generator(years=1, seed=3),
        ]
    for ds in datasets:
        for name in ds.data_vars:
            var = _assert_entry(str(name))
            assert ds[name].attrs["units"] == var.units, f"{name}: reader units {ds[name].attrs['units']!r}"
            assert ds[name].attrs.get("long_name"), name
            emitted["data_vars"].add(str(name))
        for name in ds.coords:
            if name in VARIABLES:
                assert ds[name].attrs["units"] == VARIABLES[name].units, name
                emitted["coords"].add(str(name))
    # the files above exercise every documented stream, so the check covers them all
    assert emitted["data_vars"] == READER_FORCING | READER_OBS
    assert {"lat", "lon"} <= emitted["coords"]


def test_fluxnet_variable_attrs_come_from_the_registry():
    for name, var in VARIABLES.items():
        assert fluxnet.VARIABLE_ATTRS[name] == var.attrs()
    assert fluxnet.VARIABLE_ATTRS["tmin"]["cell_methods"] == "time: minimum"
    # the registry's FLUXNET column is one the reader takes the variable from
    for name, candidates in fluxnet._FORCING_COLUMNS.items():
        assert VARIABLES[name].fluxnet in candidates, name


def test_sif_and_reference_csv_units():
    assert variable("SIF").units == "mW m-2 nm-1 sr-1"
    # unit suffixes of the reference CSV columns name the registry units of the variables they hold
    suffix_units = {"degC": "degC", "MJ_m2_d": "MJ m-2 d-1", "ppm": "ppm", "days": "d", "mm_d": "mm d-1", "kPa": "kPa"}
    for column, name in DALEC_WATER_DRIVER_COLUMNS.items():
        suffix = next((s for s in suffix_units if column.endswith("_" + s)), None)
        if suffix is not None:
            assert VARIABLES[name].units == suffix_units[suffix], column


def test_unknown_name_and_invalid_entries():
    with pytest.raises(KeyError, match="'GPP_xyz' is not in the registry"):
        variable("GPP_xyz")
    with pytest.raises(ValueError, match="`units` must be a non-empty string"):
        Variable("x", "", "something")
    with pytest.raises(ValueError, match="`long_name` must be a non-empty string"):
        Variable("x", "1", " ")
    with pytest.raises(ValueError, match="identifier"):
        Variable("not a name", "1", "x")


def test_attach_attrs():
    ds = xr.Dataset(
        {"GPP": ("time", np.ones(3)), "LE": ("time", np.ones(3), {"long_name": "my LE", "units": "W m-2"}),
         "other": ("time", np.zeros(3))},
        coords={"time": np.arange(3), "lat": 50.0},
    )
    out = attach_attrs(ds)
    assert out.GPP.attrs == VARIABLES["GPP"].attrs()
    assert out.LE.attrs["long_name"] == "my LE" and out.LE.attrs["standard_name"] == "surface_upward_latent_heat_flux"
    assert out.lat.attrs["units"] == "degrees_north"
    assert out.other.attrs == {} and ds.GPP.attrs == {}  # unknown names untouched, input not modified
    assert attach_attrs(ds, overwrite=True).LE.attrs["long_name"] == VARIABLES["LE"].long_name
    assert attach_attrs(ds, model="vsem").GPP.attrs["units"] == "kg m-2 d-1"
    assert attach_attrs(ds["GPP"]).attrs["units"] == "gC m-2 d-1"
    with pytest.raises(ValueError, match=r"'LE' has units 'mm d-1'; the registry expects 'W m-2'"):
        attach_attrs(ds.assign(LE=ds.LE.assign_attrs(units="mm d-1")))
    with pytest.raises(KeyError, match="'other' is not in the registry"):
        attach_attrs(ds, strict=True)
    with pytest.raises(TypeError, match="xarray.Dataset or DataArray"):
        attach_attrs({"GPP": 1.0})


def test_registry_module_is_pure_python(tmp_path):
    """variables.py imports neither numpy nor xarray (loaded on its own, outside the package)."""
    path = __import__("bayeslsm.data.variables", fromlist=["x"]).__file__
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('registry_only', {path!r})\n"
        "mod = sys.modules['registry_only'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "assert len(mod.VARIABLES) > 50\n"
        "print(sorted(m for m in ('numpy', 'xarray', 'jax', 'pandas') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_stream_default_units_agree_with_registry():
    """Observation-stream units (obs layer) and variable units (data layer) have one home: the registry."""
    from bayeslsm.data.variables import VARIABLES
    from bayeslsm.obs.config import STREAM_DEFAULTS

    checked = 0
    for name, d in STREAM_DEFAULTS.items():
        key = name if name in VARIABLES else d.variable
        if key in VARIABLES:
            assert d.units == VARIABLES[key].units, (name, d.units, VARIABLES[key].units)
            checked += 1
    assert checked >= 6
