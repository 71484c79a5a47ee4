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

Floating point: XLA:CPU contracts ``a * b + c`` into fused multiply-adds and its ``exp`` is not
glibc's (1 ulp apart on ~14 % of the FR-Pue days), so in float64 the pools agree with the R goldens
bit for bit or to 1 ulp and NEE, a difference of nearly equal terms, to ~1e-14 relative
(``tests/test_vsem_reference.py``).

References
----------
Hartig F, Minunno F, Paul S. BayesianTools: General-Purpose MCMC and SMC Samplers and Tools for
Bayesian Statistics. R package; the goldens use version 0.1.9, github.com/florianhartig/BayesianTools
commit ffa631c3, ``BayesianTools/R/VSEM.R`` (model by D. Cameron, code by F. Hartig).
https://doi.org/10.32614/CRAN.package.BayesianTools
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax.numpy as jnp

__all__ = ["VSEM", "VSEM_OUTPUT_UNITS", "VSEM_PARAM_UNITS", "VSEMForcing", "VSEMOutputs", "VSEMParams",
           "VSEMState"]


class VSEMParams(NamedTuple):
    """VSEM process parameters, in BayesianTools' vector order (note tauS before tauR).

    The initial pools (BayesianTools' parameters 9-11) are not parameters here: they are the
    :class:`VSEMState` passed as ``init`` to :func:`~bayeslsm.lsm.simulate`.  Leaves are scalars (or
    arrays that broadcast against the forcing).

    Attributes
    ----------
    KEXT : array_like
        Light extinction coefficient [-] (default 0.5, range 0.2-1).
    LAR : array_like
        Leaf area ratio, leaf area per unit above-ground vegetation C [m2 kg-1] (1.5, 0.2-3).
    LUE : array_like
        Light-use efficiency [kg MJ-1] (kg C per MJ PAR; 0.002, 0.0005-0.004).
    GAMMA : array_like
        Autotrophic respiration as a fraction of GPP [-] (0.4, 0.2-0.6).
    tauV : array_like
        Longevity of above-ground vegetation [d] (1440, 500-3000).
    tauS : array_like
        Residence time of soil organic matter [d] (27370, 4000-50000).
    tauR : array_like
        Longevity of below-ground vegetation [d] (1440, 500-3000).
    Av : array_like
        Fraction of NPP allocated above ground [-] (0.5, 0.2-1).
    """

    KEXT: Any  # light extinction coefficient [-]
    LAR: Any  # leaf area ratio [m2 leaf (kg C)-1]
    LUE: Any  # light-use efficiency [kg C MJ-1]
    GAMMA: Any  # autotrophic respiration fraction of GPP [-]
    tauV: Any  # above-ground vegetation longevity [d]
    tauS: Any  # soil organic matter residence time [d]
    tauR: Any  # below-ground vegetation longevity [d]
    Av: Any  # fraction of NPP allocated above ground [-]


class VSEMState(NamedTuple):
    """Carbon pools at the end of a day (at the start of day 1: the initial pools).

    Attributes
    ----------
    Cv : array_like
        Above-ground vegetation carbon [kg m-2] (default 3).
    Cs : array_like
        Soil organic carbon [kg m-2] (default 15).
    Cr : array_like
        Below-ground vegetation carbon [kg m-2] (default 3).
    """

    Cv: Any  # above-ground vegetation C [kg C m-2]
    Cs: Any  # soil organic C [kg C m-2]
    Cr: Any  # below-ground vegetation C [kg C m-2]


class VSEMForcing(NamedTuple):
    """Daily forcing.

    Attributes
    ----------
    par : array_like
        Photosynthetically active radiation [MJ m-2 d-1], shape (T,) (leading time axis).  The golden
        series are FLUXNET ``SW_IN`` [W m-2] x 0.0864 x 0.5; the data layer does such conversions.
    """

    par: Any  # photosynthetically active radiation [MJ m-2 d-1], leading time axis


class VSEMOutputs(NamedTuple):
    """Daily outputs, each of shape (T,).  ``NEE, Cv, Cs, CR`` are BayesianTools' output columns, in its
    order; ``GPP`` and ``LAI`` are extra diagnostics.

    Attributes
    ----------
    NEE : jax.Array
        Net ecosystem exchange Rh + Ra - GPP [kg m-2 d-1], positive = source to the atmosphere.
    Cv : jax.Array
        Above-ground vegetation carbon at the end of the day [kg m-2].
    Cs : jax.Array
        Soil organic carbon at the end of the day [kg m-2].
    CR : jax.Array
        Below-ground vegetation carbon at the end of the day [kg m-2] (BayesianTools' column name).
    GPP : jax.Array
        Gross primary production G [kg m-2 d-1].
    LAI : jax.Array
        Leaf area index LAR * Cv from the start-of-day Cv, the one G uses [m2 m-2].
    """

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

    ``DEFAULTS`` holds ``VSEMgetDefaults()$best``: the eight parameters and the three initial pools.

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
        """Parameter- and forcing-only work, vectorised over time: PAR * LUE.

        The light-interception factor depends on the state (Cv), so this product is all that can leave
        the loop.  It is evaluated as R does, ``PAR[i] * LUE`` first.

        Parameters
        ----------
        params : VSEMParams
        forcing : VSEMForcing
            ``par`` [MJ m-2 d-1] with a leading time axis.

        Returns
        -------
        jax.Array
            Potential GPP per unit absorbed fraction, PAR * LUE [kg m-2 d-1], shape (T,).
        """
        return forcing.par * params.LUE

    def step(self, state: VSEMState, par_lue, params: VSEMParams):
        """One day in BayesianTools' sequential order (equations in the module docstring).

        Parameters
        ----------
        state : VSEMState
            Pools at the end of the previous day [kg m-2].
        par_lue : jax.Array
            This day's PAR * LUE from :meth:`prepare` [kg m-2 d-1], a scalar.
        params : VSEMParams

        Returns
        -------
        (VSEMState, VSEMOutputs)
            End-of-day pools, and this day's outputs.
        """
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
        """Initial pools from a mapping with keys ``Cv``, ``Cs``, ``Cr`` [kg m-2] (other keys are ignored).

        Parameters
        ----------
        values : mapping of str to float or array
            E.g. a ``params.json`` ``parameters`` object or :attr:`DEFAULTS`.

        Returns
        -------
        VSEMState

        Raises
        ------
        KeyError
            A pool is missing.
        """
        missing = [k for k in VSEMState._fields if k not in values]
        if missing:
            raise KeyError(f"initial pools missing {missing}; expected keys {list(VSEMState._fields)}")
        return VSEMState(*(jnp.asarray(values[k], dtype=float) for k in VSEMState._fields))

    def params(self, values: Mapping) -> VSEMParams:
        """Parameters from a mapping with every :class:`VSEMParams` field (other keys, such as the initial
        pools, are ignored).

        Parameters
        ----------
        values : mapping of str to float or array

        Returns
        -------
        VSEMParams

        Raises
        ------
        KeyError
            A parameter is missing.
        """
        missing = [k for k in VSEMParams._fields if k not in values]
        if missing:
            raise KeyError(f"parameter values are missing {missing}; expected {list(VSEMParams._fields)}")
        return VSEMParams(*(jnp.asarray(values[k], dtype=float) for k in VSEMParams._fields))
