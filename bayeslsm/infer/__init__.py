"""Inference layer: NumPyro model builder, samplers (NUTS, ChEES-HMC, Laplace, SVI) -> ArviZ InferenceData."""

from bayeslsm.infer.calibration import Calibration, ConfigurationError, StreamData, get_model
from bayeslsm.infer.forcing import ForcingError, as_site_dataset, model_forcing
from bayeslsm.infer.problem import Problem
from bayeslsm.infer.samplers import ChEES, CheckpointError, Draws, Laplace, NUTS, SVI, laplace_fit
from bayeslsm.infer.parameters import Hierarchy, ZPrior, sample_parameters, z_prior
from bayeslsm.infer.results import atomic_path, build_inference_data, load, save
from bayeslsm.infer.twin import twin_experiment

__all__ = [
    "Calibration",
    "ChEES",
    "CheckpointError",
    "Draws",
    "Laplace",
    "NUTS",
    "Problem",
    "SVI",
    "laplace_fit",
    "ConfigurationError",
    "ForcingError",
    "Hierarchy",
    "StreamData",
    "ZPrior",
    "as_site_dataset",
    "atomic_path",
    "build_inference_data",
    "get_model",
    "load",
    "model_forcing",
    "sample_parameters",
    "save",
    "twin_experiment",
    "z_prior",
]
