"""bayeslsm: Bayesian parameter estimation for land surface models.

The land surface model is a pure JAX function (:mod:`bayeslsm.lsm`), embedded in NumPyro models with
hierarchical priors and explicit observation-bias terms (:mod:`bayeslsm.infer`), sampled with NUTS and
summarised as ArviZ ``InferenceData`` (:mod:`bayeslsm.diagnostics`).

Importing bayeslsm

* raises XLA:CPU's small-while-loop threshold (see :mod:`bayeslsm._xla`) unless ``BAYESLSM_NO_XLA_FLAGS=1``;
* enables float64 in JAX (``jax_enable_x64``) unless ``BAYESLSM_X64=0``.  Float64 is needed to match the
  reference implementations to 1e-9 and to keep multi-century spin-ups and carbon budgets exact; NUTS
  on CPU costs about the same in float64 as in float32 for these scan-bound models.
"""

from __future__ import annotations

import os as _os

from bayeslsm import _xla

_xla.configure()

import jax as _jax  # noqa: E402

if _os.environ.get("BAYESLSM_X64", "1") not in ("0", "false", "False"):
    _jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"

# Heavy layers (numpyro, xarray, arviz) load on first use, so `import bayeslsm.lsm` stays light.
_LAZY = {
    "Calibration": "bayeslsm.infer",
    "Hierarchy": "bayeslsm.infer",
    "twin_experiment": "bayeslsm.infer",
    "weather_generator": "bayeslsm.data.synthetic",
    "load": "bayeslsm.infer",
    "save": "bayeslsm.infer",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayeslsm' has no attribute {name!r}")
