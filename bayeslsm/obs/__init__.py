"""Observation layer: operators (daily model output -> observation support), bias and error models.

In the NumPyro model, per stream::

    daily output --apply_operator--> prediction --BiasModel.apply--> biased prediction
        --ErrorModel.distribution--> observe(...) (masked where observations are missing)

Build-time pieces (:func:`build_operator`, :func:`ar1_lags`, :class:`StreamConfig`) take concrete
numpy arrays and plain data; run-time pieces are pure JAX. Nothing here reads files or imports xarray.
"""

from bayeslsm.obs._exceptions import ConfigurationError
from bayeslsm.obs.bias import BIAS_KINDS, BiasModel
from bayeslsm.obs.config import STREAM_DEFAULTS, STREAM_VARIABLES, StreamConfig, StreamDefaults
from bayeslsm.obs.errors import ERROR_KINDS, UNCERTAINTY_RULES, AR1Residuals, ErrorModel, ar1_lags
from bayeslsm.obs.likelihood import observe, pointwise_log_likelihood
from bayeslsm.obs.operators import (
    ObservationSupportError,
    OperatorIndex,
    Support,
    apply_operator,
    build_operator,
    parse_support,
    support_grid,
)
from bayeslsm.obs.prior import PriorSpec

__all__ = [
    "AR1Residuals",
    "BIAS_KINDS",
    "BiasModel",
    "ConfigurationError",
    "ERROR_KINDS",
    "ErrorModel",
    "ObservationSupportError",
    "OperatorIndex",
    "PriorSpec",
    "STREAM_DEFAULTS",
    "STREAM_VARIABLES",
    "StreamConfig",
    "StreamDefaults",
    "Support",
    "UNCERTAINTY_RULES",
    "apply_operator",
    "ar1_lags",
    "build_operator",
    "observe",
    "parse_support",
    "pointwise_log_likelihood",
    "support_grid",
]
