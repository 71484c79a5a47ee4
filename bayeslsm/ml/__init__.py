"""Machine learning for calibration: black-box (non-JAX) models, emulators with exact correction, hybrid models.

Needs the ``ml`` extra (``equinox``, ``optax``, ``tinygp``).
"""

from bayeslsm.ml.correction import (
    ActiveLearningResult,
    DelayedAcceptanceResult,
    PSISResult,
    active_learning,
    delayed_acceptance,
    log_prior,
    nuts_on_emulator,
    psis_correction,
    weighted_summary,
)
from bayeslsm.ml.emulators import GPEmulator, MLPEmulator, emulator_error, fit_gp, fit_mlp
from bayeslsm.ml.external import (
    CommandModel,
    EnsembleResult,
    ExternalModelError,
    PythonModel,
    design,
    parameter_hash,
    run_ensemble,
)
from bayeslsm.ml.hybrid import HybridFit, HybridParams, NetworkStress, fit_hybrid, hybrid_model, stress_curve
from bayeslsm.ml.workflow import (
    ExternalCalibration,
    SpecError,
    calibrate_external,
    gaussian_loglik,
    prior_bounds,
    run_emulator_spec,
)

__all__ = [
    "HybridFit",
    "HybridParams",
    "NetworkStress",
    "fit_hybrid",
    "hybrid_model",
    "stress_curve",
    "ActiveLearningResult",
    "DelayedAcceptanceResult",
    "ExternalCalibration",
    "PSISResult",
    "SpecError",
    "active_learning",
    "calibrate_external",
    "delayed_acceptance",
    "gaussian_loglik",
    "log_prior",
    "nuts_on_emulator",
    "prior_bounds",
    "psis_correction",
    "run_emulator_spec",
    "weighted_summary",
    "CommandModel",
    "EnsembleResult",
    "ExternalModelError",
    "GPEmulator",
    "MLPEmulator",
    "PythonModel",
    "design",
    "emulator_error",
    "fit_gp",
    "fit_mlp",
    "parameter_hash",
    "run_ensemble",
]
