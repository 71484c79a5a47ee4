"""Pure JAX process models, the shared time loop and spin-up.

Imports neither numpyro nor xarray.  ``MODELS`` maps a model name to its class (used by
:func:`bayeslsm.infer.get_model`).
"""

from bayeslsm.lsm.core import simulate, simulate_final, simulate_sites, time_length

__all__ = ["MODELS", "simulate", "simulate_final", "simulate_sites", "time_length"]

MODELS: dict = {}

# --- DALEC2 (DALEC C1 / DALEC_CDEA + ACM) ------------------------------------------------------------
from bayeslsm.lsm import constants  # noqa: E402
from bayeslsm.lsm.dalec2 import (  # noqa: E402
    DALEC2,
    DALEC2_OUTPUT_UNITS,
    DALEC2_PARAM_UNITS,
    DALEC2Drivers,
    DALEC2Forcing,
    DALEC2Outputs,
    DALEC2Params,
    DALEC2State,
)

__all__ += [
    "constants", "DALEC2", "DALEC2Params", "DALEC2State", "DALEC2Forcing", "DALEC2Drivers", "DALEC2Outputs",
    "DALEC2_OUTPUT_UNITS", "DALEC2_PARAM_UNITS",
]
MODELS["dalec2"] = DALEC2

# --- DALEC2 + soil-water bucket (Penman–Monteith ET, water stress on GPP) -----------------------------
from bayeslsm.lsm.dalec2_water import (  # noqa: E402
    DALEC2_WATER_OUTPUT_UNITS,
    DALEC2_WATER_PARAM_UNITS,
    DALEC2Water,
    DALEC2WaterDrivers,
    DALEC2WaterForcing,
    DALEC2WaterOutputs,
    DALEC2WaterParams,
    DALEC2WaterState,
)

__all__ += [
    "DALEC2Water", "DALEC2WaterParams", "DALEC2WaterState", "DALEC2WaterForcing", "DALEC2WaterDrivers",
    "DALEC2WaterOutputs", "DALEC2_WATER_OUTPUT_UNITS", "DALEC2_WATER_PARAM_UNITS",
]
MODELS["dalec2_water"] = DALEC2Water

# --- VSEM (BayesianTools) ------------------------------------------------------------------------------
from bayeslsm.lsm.vsem import (  # noqa: E402
    VSEM,
    VSEM_OUTPUT_UNITS,
    VSEM_PARAM_UNITS,
    VSEMForcing,
    VSEMOutputs,
    VSEMParams,
    VSEMState,
)

__all__ += ["VSEM", "VSEMParams", "VSEMState", "VSEMForcing", "VSEMOutputs", "VSEM_PARAM_UNITS", "VSEM_OUTPUT_UNITS"]
MODELS["vsem"] = VSEM

# --- spin-up ---------------------------------------------------------------------------------------------
from bayeslsm.lsm.spinup import SPINUP_METHODS, cycle, spinup, steady_state  # noqa: E402

__all__ += ["SPINUP_METHODS", "cycle", "spinup", "steady_state"]
