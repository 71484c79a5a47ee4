"""The :class:`~bayeslsm.infer.Calibration` of an experiment and how it is sampled."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from bayeslsm.experiments.spec import Experiment, ExperimentError


def _site_fixed(exp: Experiment, site_pfts: Sequence[str], catalogue) -> dict:
    fixed: dict[str, Any] = dict(exp.fixed)
    for name, table in exp.fixed_by_pft.items():
        default = catalogue.parameters[name].default
        fixed[name] = np.array([table.get(p, default) for p in site_pfts], dtype=float)
    return fixed


def build_calibration(exp: Experiment, forcing, obs, *, edc: bool = True, covariate_stats=None, hierarchy=None):
    """The :class:`~bayeslsm.infer.Calibration` of ``exp`` on the given (multi-site) forcing and observations.

    ``edc=False`` leaves the EDCs out (prediction targets: they only shape the posterior). Held-out
    prediction uses :func:`bayeslsm.infer.predict.predict` on such a target. ``covariate_stats``:
    ``(center, scale)`` of the site covariates of the calibration a target predicts from (default: the
    statistics of ``forcing``'s own sites). ``hierarchy`` replaces ``exp.hierarchy`` (comparisons of
    hierarchies on the same data).

    Raises
    ------
    ExperimentError
        Wrapping the inference layer's ``ConfigurationError`` (unknown stream or parameter, no observations).
    """
    from bayeslsm.infer import Calibration
    from bayeslsm.obs import ConfigurationError
    from bayeslsm.priors.catalogue import load_catalogue

    catalogue = load_catalogue(exp.model)
    site_pfts = [str(p) for p in np.atleast_1d(forcing["pft"].values)]
    kwargs = dict(streams=[s.config for s in exp.streams], free=exp.free,
                  fixed=_site_fixed(exp, site_pfts, catalogue),
                  hierarchy=exp.hierarchy if hierarchy is None else hierarchy, spinup=exp.spinup,
                  n_cycles=exp.n_cycles, catalogue=catalogue, covariate_stats=covariate_stats)
    try:
        return Calibration(exp.model, forcing, obs, edc=exp.edc if edc else None, **kwargs)
    except (ConfigurationError, ValueError) as err:
        if isinstance(err, ExperimentError):
            raise
        raise ExperimentError(exp.path, None, f"cannot build the calibration: {err}") from err


def _sample(exp: Experiment, cal, progress: bool, checkpoint_dir=None):
    """Sample ``cal`` with the experiment's sampler; ``checkpoint_dir``: where ChEES checkpoints (resumable)."""
    s = exp.sampler
    if s.method == "chees":
        from bayeslsm.infer import ChEES

        ckpt = None if checkpoint_dir is None else str(checkpoint_dir)
        return cal.sample(ChEES(chains=s.chains, warmup=s.warmup, draws=s.draws, progress=progress,
                                target_accept=s.target_accept, checkpoint_dir=ckpt, kernel=s.kernel,
                                nuts_target_accept=s.target_accept, max_doublings=s.max_tree_depth),
                          seed=s.seed, prior_draws=s.prior_draws)
    if s.method == "nuts":
        return cal.nuts(chains=s.chains, warmup=s.warmup, draws=s.draws, dense_mass=s.dense_mass,
                        target_accept=s.target_accept, max_tree_depth=s.max_tree_depth, seed=s.seed,
                        progress=progress, prior_draws=s.prior_draws)
    method = cal.laplace if s.method == "laplace" else cal.svi
    return method(draws=s.draws, steps=s.steps, learning_rate=s.learning_rate, seed=s.seed,
                  prior_draws=s.prior_draws, progress=progress)
