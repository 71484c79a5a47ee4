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

__all__ = ["__version__"]
