"""VSEM, the Very Simple Ecosystem Model of BayesianTools, in pure JAX.

Three carbon pools (above-ground vegetation Cv, below-ground vegetation Cr, soil organic matter Cs)
driven by one series, PAR [MJ m-2 d-1].  The update order is BayesianTools' exactly
(``VSEM_REFERENCE.md`` §3): sequential, not simultaneous — the soil input uses the vegetation pools
already updated on the same day, and NEE uses the updated soil pool.  Units are **kg** C.

For day i, with the state (Cv, Cr, Cs) of the end of day i−1::

    G   = PAR_i · LUE · (1 − exp(−(KEXT · LAR) · Cv))        LAI = LAR · Cv
    NPP = (1 − GAMMA) · G
    Cv' = Cv + Av · NPP − Cv / tauV
    Cr' = Cr + (1 − Av) · NPP − Cr / tauR
    Cs' = Cs + Cr' / tauR + Cv' / tauV − Cs / tauS
    NEE = Cs' / tauS + GAMMA · G − G                           (positive = source)

References
----------
Hartig F, Minunno F, Paul S (2019). BayesianTools: General-Purpose MCMC and SMC Samplers and Tools
for Bayesian Statistics. R package version 0.1.7 (VSEM.R; model by D. Cameron).
https://CRAN.R-project.org/package=BayesianTools
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, NamedTuple

import jax.numpy as jnp

__all__ = ["VSEM", "VSEMParams", "VSEMState", "VSEMForcing", "VSEMOutputs", "VSEM_PARAM_UNITS",
           "VSEM_OUTPUT_UNITS"]


class VSEMParams(NamedTuple):
    """VSEM process parameters (initial pools are the :class:`VSEMState`)."""

    KEXT: Any  # light extinction coefficient [-]
    LAR: Any  # leaf area ratio [m2 leaf (kg C)-1]
    LUE: Any  # light-use efficiency [kg C MJ-1]
    GAMMA: Any  # autotrophic respiration fraction of GPP [-]
    tauV: Any  # above-ground vegetation longevity [d]
    tauS: Any  # soil organic matter residence time [d]
    tauR: Any  # below-ground vegetation longevity [d]
    Av: Any  # fraction of NPP allocated above ground [-]


class VSEMState(NamedTuple):
    Cv: Any  # above-ground vegetation C [kg C m-2]
    Cs: Any  # soil organic C [kg C m-2]
    Cr: Any  # below-ground vegetation C [kg C m-2]


class VSEMForcing(NamedTuple):
    par: Any  # photosynthetically active radiation [MJ m-2 d-1], leading time axis


class VSEMOutputs(NamedTuple):
    NEE: Any  # net ecosystem exchange [kg C m-2 d-1], positive = source
    Cv: Any  # end-of-day above-ground vegetation C [kg C m-2]
    Cs: Any  # end-of-day soil organic C [kg C m-2]
    CR: Any  # end-of-day below-ground vegetation C [kg C m-2]
    GPP: Any  # gross primary production G [kg C m-2 d-1]
    LAI: Any  # leaf area index from start-of-day Cv [m2 m-2]


VSEM_PARAM_UNITS = {"KEXT": "1", "LAR": "m2 kg-1", "LUE": "kg MJ-1", "GAMMA": "1", "tauV": "d", "tauS": "d",
                    "tauR": "d", "Av": "1", "Cv": "kg m-2", "Cs": "kg m-2", "Cr": "kg m-2"}
VSEM_OUTPUT_UNITS = {"NEE": "kg m-2 d-1", "Cv": "kg m-2", "Cs": "kg m-2", "CR": "kg m-2", "GPP": "kg m-2 d-1",
                     "LAI": "m2 m-2"}


@dataclass(frozen=True)
class VSEM:
    """The VSEM process model (no static options).

    Examples
    --------
    >>> import numpy as np
    >>> from bayeslsm.lsm import VSEM, simulate
    >>> m = VSEM()
    >>> out = simulate(m, m.params(m.DEFAULTS), m.Forcing(par=np.full(10, 5.0)), m.initial_state(m.DEFAULTS))
    >>> out.NEE.shape
    (10,)
    """

    name: ClassVar[str] = "vsem"
    Params: ClassVar[type] = VSEMParams
    State: ClassVar[type] = VSEMState
    Forcing: ClassVar[type] = VSEMForcing
    Outputs: ClassVar[type] = VSEMOutputs
    DEFAULTS: ClassVar[Mapping[str, float]] = {  # VSEMgetDefaults()$best
        "KEXT": 0.5, "LAR": 1.5, "LUE": 0.002, "GAMMA": 0.4, "tauV": 1440.0, "tauS": 27370.0, "tauR": 1440.0,
        "Av": 0.5, "Cv": 3.0, "Cs": 15.0, "Cr": 3.0,
    }

    def prepare(self, params: VSEMParams, forcing: VSEMForcing):
        """Light absorbed per unit LUE is state-dependent, so only PAR·LUE is hoisted out of the loop."""
        return forcing.par * params.LUE

    def step(self, state: VSEMState, par_lue, params: VSEMParams):
        """One day in BayesianTools' sequential order (module docstring)."""
        cv, cs, cr = state
        g = par_lue * (1.0 - jnp.exp(-(params.KEXT * params.LAR) * cv))
        npp = (1.0 - params.GAMMA) * g
        cv_new = cv + params.Av * npp - cv / params.tauV
        cr_new = cr + (1.0 - params.Av) * npp - cr / params.tauR
        cs_new = cs + cr_new / params.tauR + cv_new / params.tauV - cs / params.tauS
        nee = (cs_new / params.tauS + params.GAMMA * g) - g
        out = VSEMOutputs(NEE=nee, Cv=cv_new, Cs=cs_new, CR=cr_new, GPP=g, LAI=params.LAR * cv)
        return VSEMState(cv_new, cs_new, cr_new), out

    def initial_state(self, values: Mapping) -> VSEMState:
        """State from a mapping with keys ``Cv``, ``Cs``, ``Cr`` (the catalogue's initial pools)."""
        missing = [k for k in VSEMState._fields if k not in values]
        if missing:
            raise KeyError(f"initial pools missing {missing}; expected keys {list(VSEMState._fields)}")
        return VSEMState(*(jnp.asarray(values[k], dtype=float) for k in VSEMState._fields))

    def params(self, values: Mapping) -> VSEMParams:
        """Params from a mapping (extra keys such as initial pools are ignored)."""
        missing = [k for k in VSEMParams._fields if k not in values]
        if missing:
            raise KeyError(f"parameter values are missing {missing}; expected {list(VSEMParams._fields)}")
        return VSEMParams(*(jnp.asarray(values[k], dtype=float) for k in VSEMParams._fields))
