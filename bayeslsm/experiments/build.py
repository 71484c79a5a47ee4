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


# --------------------------------------------------------------------------------------------------
# calibration and held-out skill


def _continued_calibration_class():
    from bayeslsm.infer import Calibration
    from bayeslsm.lsm.core import simulate
    from bayeslsm.lsm.spinup import spinup

    class _ContinuedCalibration(Calibration):
        """A Calibration whose spin-up sees only the first ``spinup_days`` days of the forcing.

        The calibration run spins up on its own (calibration-period) forcing; this class spins up on the
        same days and then simulates the whole, longer forcing, so its trajectories over the calibration
        period equal the calibration's.
        """

        def __init__(self, *args, spinup_days: int, **kwargs):
            self.spinup_days = int(spinup_days)
            super().__init__(*args, **kwargs)

        def _forward_impl(self, params, init, forcing):
            import jax

            model, method, n, k = self.model, self.spinup_method, self.n_cycles, self.spinup_days

            def one(p, f, i):
                window = jax.tree_util.tree_map(lambda x: x[:k], f)
                i = spinup(model, p, window, i, method=method, n_cycles=n)
                return simulate(model, p, f, i)

            return jax.vmap(one)(params, forcing, init)

    return _ContinuedCalibration


def build_calibration(exp: Experiment, forcing, obs, *, spinup_days: int | None = None):
    """The :class:`~bayeslsm.infer.Calibration` of ``exp`` on the given (multi-site) forcing and observations.

    ``spinup_days`` (held-out pass): spin up on the first ``spinup_days`` days only, then simulate all.
    EDCs are left out of the held-out pass (they only shape the posterior).

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
                  fixed=_site_fixed(exp, site_pfts, catalogue), hierarchy=exp.hierarchy, spinup=exp.spinup,
                  n_cycles=exp.n_cycles, catalogue=catalogue)
    try:
        if spinup_days is None:
            return Calibration(exp.model, forcing, obs, edc=exp.edc, **kwargs)
        cls = _continued_calibration_class()
        return cls(exp.model, forcing, obs, spinup_days=spinup_days, **kwargs)
    except (ConfigurationError, ValueError) as err:
        if isinstance(err, ExperimentError):
            raise
        raise ExperimentError(exp.path, None, f"cannot build the calibration: {err}") from err


def _sample(exp: Experiment, cal, progress: bool):
    s = exp.sampler
    if s.method == "chees":
        from bayeslsm.infer import ChEES

        return cal.sample(ChEES(chains=s.chains, warmup=s.warmup, draws=s.draws, progress=progress), seed=s.seed,
                          prior_draws=s.prior_draws)
    if s.method == "nuts":
        return cal.nuts(chains=s.chains, warmup=s.warmup, draws=s.draws, dense_mass=s.dense_mass,
                        target_accept=s.target_accept, max_tree_depth=s.max_tree_depth, seed=s.seed,
                        progress=progress, prior_draws=s.prior_draws)
    method = cal.laplace if s.method == "laplace" else cal.svi
    return method(draws=s.draws, steps=s.steps, learning_rate=s.learning_rate, seed=s.seed,
                  prior_draws=s.prior_draws, progress=progress)
