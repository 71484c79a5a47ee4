"""The one entry point of the inference layer: :class:`Calibration`.

``Calibration`` takes a process model, forcing and observations (xarray), observation streams (with
their operators, bias and error models), the free parameters and the PFT hierarchy, and builds a
NumPyro model::

    parameters (catalogue priors, hierarchy)  ->  spin-up  ->  simulate (vmap over sites)
        ->  per stream: operator -> bias -> error model, masked where observations are missing
        ->  optional EDC log-potentials

Its methods sample it and all return an ArviZ ``InferenceData`` of the same layout
(:mod:`bayeslsm.infer.results`): :meth:`Calibration.sample` with any sampler object of
:mod:`bayeslsm.infer.samplers` (``NUTS``, ``ChEES``, ``Laplace``, ``SVI``) on the frozen
:class:`~bayeslsm.infer.problem.Problem` (:meth:`Calibration.problem`), the shortcuts
:meth:`Calibration.nuts`, :meth:`Calibration.chees`, :meth:`Calibration.laplace`, :meth:`Calibration.svi`,
and :meth:`Calibration.prior_predictive`.  Calibration is a thin facade: samplers return draws, the
facade builds the InferenceData and runs the sampling checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr

from bayeslsm.infer import names
from bayeslsm.infer.forcing import as_site_dataset, model_forcing
from bayeslsm.infer.parameters import Hierarchy, sample_parameters, z_prior
from bayeslsm.lsm.core import simulate
from bayeslsm.lsm.spinup import SPINUP_METHODS, spinup
from bayeslsm.obs import ConfigurationError as ObsConfigurationError
from bayeslsm.obs import support_grid
from bayeslsm.obs.config import StreamConfig
from bayeslsm.obs.errors import ar1_lags
from bayeslsm.obs.likelihood import observe, pointwise_log_likelihood
from bayeslsm.obs.operators import apply_operator, build_operator
from bayeslsm.priors.catalogue import load_catalogue

__all__ = ["Calibration", "ConfigurationError", "get_model", "StreamData"]


class ConfigurationError(ObsConfigurationError):
    """A calibration set-up that cannot work (unknown stream, parameter, PFT, bad data).

    Subclass of :class:`bayeslsm.obs.ConfigurationError`, so one ``except`` catches both.
    """


def get_model(model) -> Any:
    """Return a process-model instance from an instance or a registered name."""
    from bayeslsm import lsm

    if not isinstance(model, str):
        return model
    models = getattr(lsm, "MODELS", {})
    if model not in models:
        raise ConfigurationError(f"unknown model {model!r}; expected one of {sorted(models)}")
    return models[model]()


@dataclass(frozen=True)
class StreamData:
    """Concrete, build-time arrays for one observation stream (all numpy)."""

    config: StreamConfig
    index: Any  # OperatorIndex
    support_time: np.ndarray  # (n,) datetime64[D]
    obs: np.ndarray | None  # (site, n), NaN where missing
    unc: np.ndarray | None  # (site, n)
    doy: np.ndarray  # (n,)
    lag: np.ndarray | None  # (site, n) int, AR(1) lags

    @property
    def mask(self) -> np.ndarray | None:
        return None if self.obs is None else np.isfinite(self.obs)


def _site_sharding(shard_sites, n_site: int):
    """``NamedSharding`` of a leading ``site`` axis over the largest usable number of devices, or ``None``."""
    if shard_sites is False or shard_sites is None:
        return None
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = list(jax.devices()) if shard_sites is True else list(shard_sites)
    if not devices:
        raise ConfigurationError("`shard_sites` is an empty sequence; expected True or a sequence of jax devices")
    n = max(d for d in range(1, min(len(devices), n_site) + 1) if n_site % d == 0)
    return NamedSharding(Mesh(np.array(devices[:n]), ("site",)), PartitionSpec("site"))


class Calibration:
    """A Bayesian calibration problem: model + forcing + observations + streams + free parameters.

    Parameters
    ----------
    model
        Process model instance or name (``"vsem"``, ``"dalec2"``, ``"dalec2_water"``).
    forcing
        ``xarray.Dataset`` with dims ``time`` (daily, consecutive) and optionally ``site``; variables
        named as the model's forcing fields (units of :mod:`bayeslsm.data.variables`); coordinates
        ``lat`` (needed by DALEC2) and ``pft`` per site.
    observations
        ``xarray.Dataset`` on (a subset of) the forcing days, one variable per stream (NaN = gap).
        For n-day, monthly and annual streams the value sits on the first day of its period. Optional
        per-observation uncertainty variables are named in the stream configuration. ``None`` for
        prior predictive runs and twin experiments.
    streams
        :class:`bayeslsm.obs.StreamConfig` objects or dicts (``StreamConfig.from_dict``).
    free
        Names of the parameters to estimate (process parameters and, optionally, initial pools such
        as ``cw_init``: spin-up option (c)).
    fixed
        Values for non-free parameters that differ from the catalogue defaults.
    hierarchy
        :class:`Hierarchy` or dict; parameters in it vary by site with PFT partial pooling.
    spinup
        One of :data:`bayeslsm.lsm.spinup.SPINUP_METHODS`; ``n_cycles`` for the cycling methods.
    edc
        ``True`` for all of DALEC's ecological and dynamic constraints, or a sequence of their names
        (:mod:`bayeslsm.priors.edc`); ``None``/``False`` for none.
    shard_sites
        Shard the site axis of the forward pass (forcing, parameters, initial state, outputs) over
        devices with :mod:`jax.sharding`: ``True`` for all local devices, or a sequence of devices.
        The largest number of them that divides the number of sites is used. Results equal the
        unsharded ones; with one device per GPU the joint (hierarchical) posterior of many sites
        spreads over the GPUs. NUTS chains then run ``"vectorized"`` (``"parallel"`` pmaps chains
        over the same devices and is refused).
    remat
        Rematerialisation policy of the scanned daily step under reverse-mode differentiation
        (:data:`bayeslsm.lsm.core.REMAT_POLICIES`); the default recomputes each day in the backward
        pass instead of storing its intermediates, which makes gradients cheaper (same values).
    covariate_stats
        ``(center, scale)`` of the hierarchy's site covariates (one value per covariate), used to
        standardise this calibration's sites instead of their own mean and sd: pass the statistics of the
        calibration sites when building a prediction target at other (e.g. left-out) sites
        (:func:`bayeslsm.infer.predict.calibration_like` does). Kept as ``covariate_center`` and
        ``covariate_scale`` and recorded in ``constant_data``; default: the mean and sd across this
        calibration's sites.
    """

    def __init__(
        self,
        model,
        forcing: xr.Dataset,
        observations: xr.Dataset | None = None,
        streams: Sequence[StreamConfig | Mapping] = (),
        free: Sequence[str] = (),
        fixed: Mapping[str, float] | None = None,
        hierarchy: Hierarchy | Mapping | None = None,
        spinup: str = "none",
        n_cycles: int = 5,
        edc: bool | Sequence[str] | None = None,
        catalogue=None,
        shard_sites: bool | Sequence[Any] = False,
        *,
        remat: str = "nothing_saveable",
        covariate_stats: tuple[Any, Any] | None = None,
    ):
        self.model = get_model(model)
        from bayeslsm.lsm.core import REMAT_POLICIES

        if remat not in REMAT_POLICIES:
            raise ConfigurationError(f"`remat` must be one of {REMAT_POLICIES}; got {remat!r}")
        self.remat = remat
        self.catalogue = catalogue if catalogue is not None else load_catalogue(self.model.name)
        self.forcing_ds = as_site_dataset(forcing)
        self.forcing = model_forcing(self.model, self.forcing_ds)
        self.time = np.asarray(self.forcing_ds["time"].values, dtype="datetime64[D]")
        self.sites = tuple(str(s) for s in self.forcing_ds["site"].values)
        self.n_site = len(self.sites)
        if spinup not in SPINUP_METHODS:
            raise ConfigurationError(f"`spinup` must be one of {SPINUP_METHODS}; got {spinup!r}")
        self.spinup_method = spinup
        self.n_cycles = int(n_cycles)

        # --- parameters ------------------------------------------------------------------------
        specs = self.catalogue.parameters
        self.free = tuple(free)
        for name in self.free:
            if name not in specs:
                raise ConfigurationError(
                    f"unknown free parameter {name!r} for model {self.model.name!r}; "
                    f"expected one of {sorted(specs)}"
                )
        if len(set(self.free)) != len(self.free):
            raise ConfigurationError(f"`free` lists a parameter twice: {list(self.free)}")
        self.fixed = dict(fixed or {})
        for name, value in self.fixed.items():
            if name not in specs:
                raise ConfigurationError(f"unknown fixed parameter {name!r}; expected one of {sorted(specs)}")
            if name in self.free:
                raise ConfigurationError(f"parameter {name!r} is both free and fixed")
            v = np.asarray(value, dtype=float)
            if v.shape not in ((), (self.n_site,)) or not np.all(np.isfinite(v)):
                raise ConfigurationError(
                    f"fixed parameter {name!r} must be a finite scalar or one finite value per site "
                    f"(shape ({self.n_site},)); got {value!r}"
                )
        if isinstance(hierarchy, Mapping):
            hierarchy = Hierarchy(**hierarchy)
        self.hierarchy = hierarchy or Hierarchy()
        for name in self.hierarchy.params:
            if name not in self.free:
                raise ConfigurationError(f"hierarchy parameter {name!r} is not in `free` {list(self.free)}")
        # site covariates standardised with the calibration sites' statistics (bayeslsm.infer.parameters)
        if not self.hierarchy.covariates:
            self.covariate_center = self.covariate_scale = None
        elif covariate_stats is None:
            self.covariate_center, self.covariate_scale = self.hierarchy.covariate_stats(self.forcing_ds, self.sites)
        else:
            self.covariate_center, self.covariate_scale = (np.asarray(v, dtype=float) for v in covariate_stats)
        self.site_covariates = self.hierarchy.covariate_matrix(self.forcing_ds, self.sites, self.covariate_center,
                                                               self.covariate_scale)  # None without covariates

        # --- sites and PFTs --------------------------------------------------------------------
        if "pft" in self.forcing_ds.coords:
            site_pft = [str(p) for p in np.atleast_1d(self.forcing_ds["pft"].values)]
        else:
            site_pft = ["__global__"] * self.n_site
        known = set(self.catalogue.pfts) | {"__global__"}
        for s, p in zip(self.sites, site_pft):
            if p not in known:
                raise ConfigurationError(
                    f"site {s!r} has PFT {p!r}, which the {self.model.name!r} catalogue has no priors for; "
                    f"expected one of {sorted(self.catalogue.pfts)}"
                )
        self.pfts = tuple(sorted(set(site_pft)))
        self.site_pft = tuple(site_pft)
        self.site_pft_index = np.array([self.pfts.index(p) for p in site_pft], dtype=int)
        self.zpriors = {
            key: {n: z_prior(specs[n], self.catalogue.prior_for(n, None if key == "__global__" else key))
                  for n in self.free}
            for key in set(self.pfts) | {"__global__"}
        }

        # --- fixed values for everything else ------------------------------------------------
        self._defaults = {}
        for name, spec in specs.items():
            self._defaults[name] = np.asarray(self.fixed.get(name, spec.default), dtype=float)

        # --- streams ---------------------------------------------------------------------------
        if observations is not None and "site" not in observations.dims:
            if self.n_site != 1:
                raise ConfigurationError(
                    f"`observations` has no `site` dimension but the forcing has {self.n_site} sites {list(self.sites)}"
                )
            observations = observations.drop_vars("site", errors="ignore").expand_dims(site=list(self.sites))
        self.observations = None if observations is None else as_site_dataset(observations, "observations")
        self.streams = tuple(self._stream_data(s) for s in streams)
        names = [s.config.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"stream names must be unique; got {names}")

        # --- EDCs ---------------------------------------------------------------------------------
        self.edc = None
        if edc:
            from bayeslsm.priors.edc import EDCSet

            self.edc = EDCSet.from_spec(edc, self.model.name)

        self.site_sharding = _site_sharding(shard_sites, self.n_site)
        if self.site_sharding is not None:
            self.forcing = jax.device_put(self.forcing, self._site_shardings(self.forcing))
        self._forward_jit = jax.jit(self._forward_impl)

    def _site_shardings(self, tree):
        """The site sharding for leaves with a leading site axis, replication for the others."""
        from jax.sharding import NamedSharding, PartitionSpec

        repl = NamedSharding(self.site_sharding.mesh, PartitionSpec())
        return jax.tree_util.tree_map(
            lambda x: self.site_sharding if (np.ndim(x) >= 1 and np.shape(x)[0] == self.n_site) else repl, tree)

    def _constrain_sites(self, tree):
        if self.site_sharding is None:
            return tree
        return jax.lax.with_sharding_constraint(tree, self._site_shardings(tree))

    # ------------------------------------------------------------------------------------------
    def _stream_data(self, cfg) -> StreamData:
        if isinstance(cfg, Mapping):
            cfg = StreamConfig.from_dict(dict(cfg))
        if cfg.variable not in self.model.Outputs._fields:
            raise ConfigurationError(
                f"stream {cfg.name!r} needs model output {cfg.variable!r}, which model {self.model.name!r} "
                f"does not produce; outputs are {list(self.model.Outputs._fields)}"
            )
        obs = unc = None
        if self.observations is not None:
            ds = self.observations
            if cfg.name not in ds.data_vars:
                raise ConfigurationError(
                    f"stream {cfg.name!r} has no observations: expected a variable {cfg.name!r} in "
                    f"`observations`, found {sorted(ds.data_vars)}"
                )
            da = ds[cfg.name].transpose("site", "time")
            if list(map(str, ds["site"].values)) != list(self.sites):
                raise ConfigurationError(
                    f"observation sites {list(map(str, ds['site'].values))} differ from forcing sites {list(self.sites)}"
                )
            otime = np.asarray(da["time"].values, dtype="datetime64[D]")
            vals = np.asarray(da.values, dtype=float)
            has = np.isfinite(vals).any(axis=0)
            if not has.any():
                raise ConfigurationError(f"stream {cfg.name!r}: every observation is missing (all NaN)")
            t_obs = otime[has]
            if t_obs.min() < self.time[0] or t_obs.max() > self.time[-1]:
                raise ConfigurationError(
                    f"stream {cfg.name!r} has observations from {t_obs.min()} to {t_obs.max()}, outside the "
                    f"forcing period {self.time[0]} .. {self.time[-1]}"
                )
            support_time = self.time if cfg.support == "daily" else t_obs
            pos = {t: i for i, t in enumerate(otime)}
            obs = np.full((self.n_site, support_time.size), np.nan)
            sel = np.array([pos[t] for t in support_time if t in pos])
            where = np.array([t in pos for t in support_time])
            obs[:, where] = vals[:, sel]
            if cfg.uncertainty:
                if cfg.uncertainty not in ds.data_vars:
                    raise ConfigurationError(
                        f"stream {cfg.name!r}: uncertainty variable {cfg.uncertainty!r} not in observations"
                    )
                uvals = np.asarray(ds[cfg.uncertainty].transpose("site", "time").values, dtype=float)
                unc = np.full_like(obs, np.nan)
                unc[:, where] = uvals[:, sel]
                bad = np.isfinite(obs) & ~(np.isfinite(unc) & (unc > 0))
                # an observation without a usable uncertainty is dropped from this stream, and said so
                if bad.any():
                    import warnings

                    warnings.warn(
                        f"stream {cfg.name!r}: {int(bad.sum())} observations have no positive uncertainty in "
                        f"{cfg.uncertainty!r} and are masked",
                        UserWarning,
                        stacklevel=3,
                    )
                    obs = np.where(bad, np.nan, obs)
                unc = np.where(np.isfinite(unc) & (unc > 0), unc, 1.0)
        else:
            support_time = np.asarray(support_grid(cfg.support, self.time), dtype="datetime64[D]")
        index = build_operator(cfg.support, cfg.how, self.time, support_time, name=cfg.name)
        doy = (support_time - support_time.astype("datetime64[Y]")).astype(int) + 1
        lag = None
        if cfg.error.kind == "ar1":
            mask = np.isfinite(obs) if obs is not None else np.ones((self.n_site, support_time.size), bool)
            lag = np.asarray(ar1_lags(mask))
        return StreamData(cfg, index, support_time, obs, unc, doy.astype(float), lag)

    # ------------------------------------------------------------------------------------------
    def _param_values(self, sampled: Mapping[str, jnp.ndarray]):
        """Model Params and initial State with leaves of shape (site,)."""
        S = self.n_site
        vals = {}
        for name in self._defaults:
            v = sampled[name] if name in sampled else self._defaults[name]
            vals[name] = jnp.broadcast_to(jnp.asarray(v, dtype=float), (S,))
        params = self.model.Params(**{f: vals[f] for f in self.model.Params._fields})
        init_vals = {k: v for k, v in vals.items() if k not in self.model.Params._fields}
        init = jax.vmap(lambda d: self.model.initial_state(d))(init_vals)
        return params, init

    def _forward_impl(self, params, init, forcing, spinup_days: int | None = None):
        """Spin up and simulate every site (vmapped): the one forward pass of the model and of prediction.

        ``spinup_days = k`` spins up on the first ``k`` days of ``forcing`` only, then simulates all of it
        (:func:`bayeslsm.infer.predict.predict`); ``None`` spins up on the whole forcing.
        """
        model, method, n, remat = self.model, self.spinup_method, self.n_cycles, self.remat
        k = None if spinup_days is None else int(spinup_days)

        def one(p, f, i):
            window = f if k is None else jax.tree_util.tree_map(lambda x: x[:k], f)
            i = spinup(model, p, window, i, method=method, n_cycles=n)
            return simulate(model, p, f, i, remat=remat)

        params, init, forcing = self._constrain_sites((params, init, forcing))
        return self._constrain_sites(jax.vmap(one)(params, forcing, init))

    def simulate(self, values: Mapping[str, Any] | None = None):
        """Run the model at every site with parameter ``values`` (others fixed); leaves (site, time)."""
        params, init = self._param_values(values or {})
        return self._forward_jit(params, init, self.forcing)

    # ------------------------------------------------------------------------------------------
    def numpyro_model(self, obs: Mapping[str, Any] | None = None, record: bool = False,
                      ll_obs: Mapping[str, Any] | None = None, forcing=None):
        """The NumPyro model. ``obs``: stream name -> (filled obs, mask, unc); ``None`` samples them.

        With ``record=True`` (predictive passes only, never under NUTS) daily trajectories, the
        noise-free biased prediction and, against ``ll_obs``, pointwise log-likelihoods are recorded
        as deterministic sites. ``forcing`` (default: the calibration's own) replaces the model forcing
        pytree; passed as an argument, it is an input of the compiled program instead of a constant,
        so sites with the same shapes share compiled code (:mod:`bayeslsm.distributed`).
        """
        sampled = sample_parameters(
            self.free, self.catalogue.parameters, self.zpriors, self.site_pft_index, self.pfts, self.hierarchy,
            covariates=getattr(self, "site_covariates", None),
        )
        params, init = self._param_values(sampled)
        outputs = self._forward_impl(params, init, self.forcing if forcing is None else forcing)
        if self.edc is not None:
            numpyro.factor("edc", self.edc.log_potential(params, init, outputs))
        self.observe_streams(outputs, obs, record=record, ll_obs=ll_obs)

    def observe_streams(self, outputs, obs: Mapping[str, Any] | None = None, *, record: bool = False,
                        ll_obs: Mapping[str, Any] | None = None) -> dict[str, tuple]:
        """Observation operators, bias and error models of every stream on model ``outputs``: NumPyro sites.

        The one observation path of the calibration model (:meth:`numpyro_model`), its predictive passes
        and :func:`~bayeslsm.infer.predict.predict`.  For each stream: the operator maps the daily output
        onto the stream's support, the bias and error parameters are sampled (``{stream}_...`` sites) and
        the stream site ``{stream}`` is observed (``obs[stream] = (y, mask, unc)``) or, without
        observations, sampled with the per-point uncertainty of the stream's data where it has one, i.e.
        replicated data follow the same error model as the likelihood.  ``record=True`` records
        the daily output, the noise-free biased prediction and (against ``ll_obs``) pointwise
        log-likelihoods as deterministic sites.

        Returns stream name -> (observed or replicated values, noise-free biased prediction).
        """
        out = {}
        for sd in self.streams:
            cfg = sd.config
            daily = getattr(outputs, cfg.variable)
            pred = apply_operator(sd.index, daily)
            bias_params = cfg.bias.sample(cfg.name, n_site=self.n_site)
            err_params = cfg.error.sample(cfg.name)
            if obs is not None and cfg.name in obs:
                y, mask, unc = obs[cfg.name]
            else:
                y, mask, unc = None, None, None if sd.unc is None else jnp.asarray(sd.unc)
            lag = None if sd.lag is None else jnp.asarray(sd.lag)
            value = observe(cfg.name, pred, y, mask, cfg.bias, cfg.error, bias_params, err_params, sd.doy,
                            unc=unc, lag=lag)
            biased = cfg.bias.apply(pred, bias_params, sd.doy)
            out[cfg.name] = (value, biased)
            if record:
                numpyro.deterministic(names.daily(cfg.variable), daily)
                numpyro.deterministic(names.stream_model(cfg.name), biased)
                if ll_obs is not None and cfg.name in ll_obs:
                    ly, lmask, lunc = ll_obs[cfg.name]
                    ll = pointwise_log_likelihood(pred, ly, lmask, cfg.bias, cfg.error, bias_params, err_params,
                                                  sd.doy, unc=lunc, lag=lag)
                    numpyro.deterministic(names.stream_loglik(cfg.name), ll)
        return out

    def observed_arrays(self) -> dict[str, tuple]:
        """Stream name -> (obs with gaps filled by 0, mask, uncertainty or None) as JAX arrays."""
        out = {}
        for sd in self.streams:
            if sd.obs is None:
                continue
            mask = np.isfinite(sd.obs)
            y = np.where(mask, sd.obs, 0.0)
            out[sd.config.name] = (jnp.asarray(y), jnp.asarray(mask),
                                   None if sd.unc is None else jnp.asarray(sd.unc))
        return out

    # ------------------------------------------------------------------------------------------
    def nuts(self, chains: int = 4, warmup: int = 500, draws: int = 500, *, dense_mass: bool = False,
             target_accept: float = 0.8, max_tree_depth: int = 10, seed: int = 0, progress: bool = True,
             chain_method: str | None = None, predictive_batch: int = 200, prior_draws: int = 200,
             init_values: Mapping[str, float] | None = None, daily: bool | int = True, model_points: bool = True):
        """Sample the posterior with NUTS and return a complete ``InferenceData``.

        Parameters
        ----------
        chains, warmup, draws
            Number of chains, warm-up and kept iterations per chain.
        dense_mass
            Adapt a dense mass matrix (helps with strongly correlated, e.g. equifinal, parameters).
        target_accept
            Target acceptance probability of the step-size adaptation.
        max_tree_depth
            NUTS maximum tree depth; saturation is reported after sampling.
        seed
            Seed of every random choice (same seed -> identical draws).
        chain_method
            ``"parallel"`` when there are at least ``chains`` XLA devices (bayeslsm exposes the CPU
            cores as devices), else ``"sequential"``.
        predictive_batch
            Draws per batch for the posterior predictive pass.
        prior_draws
            Number of prior / prior predictive draws stored (0 to skip).
        init_values
            Optional starting values (constrained) for free parameters, e.g. a MAP estimate.
        daily, model_points
            What the predictive groups store (:func:`bayeslsm.infer.results.build_inference_data`):
            daily trajectories of every draw (``True``), none (``False``) or ``n`` evenly spaced draws;
            the noise-free predictions ``{stream}_model`` beside the replicated observations.
        """
        from bayeslsm.infer.samplers import NUTS

        if self.site_sharding is not None:
            if chain_method == "parallel":
                raise ConfigurationError("`chain_method='parallel'` maps chains over the devices that `shard_sites` "
                                         "already shards the site axis over; use 'vectorized' or 'sequential'")
            chain_method = chain_method or "vectorized"
        sampler = NUTS(chains=chains, warmup=warmup, draws=draws, dense_mass=dense_mass,
                       target_accept=target_accept, max_tree_depth=max_tree_depth, chain_method=chain_method,
                       progress=progress, init_params=self._z_values(init_values) if init_values else None,
                       init_values=dict(init_values) if init_values else None)
        return self.sample(sampler, seed=seed, predictive_batch=predictive_batch, prior_draws=prior_draws,
                           daily=daily, model_points=model_points)

    def problem(self):
        """The frozen :class:`~bayeslsm.infer.problem.Problem` samplers run on (built once, cached)."""
        from bayeslsm.infer.problem import Problem

        if getattr(self, "_problem", None) is None:
            self._problem = Problem.from_calibration(self)
        return self._problem

    def sample(self, sampler=None, *, seed: int = 0, predictive_batch: int = 200, prior_draws: int = 200,
               check: bool = True, daily: bool | int = True, model_points: bool = True):
        """Sample the posterior with ``sampler`` and return a complete ``InferenceData``.

        Parameters
        ----------
        sampler
            A sampler object of :mod:`bayeslsm.infer.samplers` (``NUTS``, ``ChEES``, ``Laplace``, ``SVI``,
            or anything with ``run(problem, key) -> Draws``); default ``ChEES()``.
        seed
            Seed of every random choice (same seed -> identical draws).  The key is split into
            (sampler, posterior predictive, prior) as ``jax.random.split(PRNGKey(seed), 3)``.
        predictive_batch
            Draws per batch for the posterior predictive pass.
        prior_draws
            Number of prior / prior predictive draws stored (0 to skip).
        check
            Run :func:`bayeslsm.diagnostics.checks.check_sampling` on the result (warnings with advice;
            the report is stored in ``sample_stats.attrs["sampling_report"]``).
        daily, model_points
            What the predictive groups store (see :meth:`nuts`).

        Examples
        --------
        >>> from bayeslsm.infer.samplers import ChEES          # doctest: +SKIP
        >>> idata = cal.sample(ChEES(chains=32, warmup=300, draws=200), seed=1)  # doctest: +SKIP
        """
        from bayeslsm.infer.results import build_inference_data
        from bayeslsm.infer.samplers import ChEES

        sampler = ChEES() if sampler is None else sampler
        key = jax.random.PRNGKey(seed)
        k_run, k_pred, k_prior = jax.random.split(key, 3)
        draws = sampler.run(self.problem(), k_run)
        settings = dict(draws.settings, seed=seed)
        idata = build_inference_data(self, draws.samples, draws.stats, settings, k_pred, k_prior,
                                     batch=predictive_batch, prior_draws=prior_draws, daily=daily,
                                     model_points=model_points)
        if check and draws.stats is not None:
            from bayeslsm.diagnostics.checks import check_sampling

            report = check_sampling(idata, max_tree_depth=getattr(sampler, "max_tree_depth", 10), stacklevel=3)
            # the checks (incl. strongly correlated, i.e. equifinal, parameter pairs) travel with the result
            idata.sample_stats.attrs["sampling_report"] = json.dumps(report.as_dict())
        return idata

    def _z_values(self, values: Mapping[str, float]) -> dict:
        specs = self.catalogue.parameters
        out = {}
        for name, v in values.items():
            if name not in self.free:
                raise ConfigurationError(f"init value for {name!r}, which is not a free parameter")
            z = specs[name].to_unconstrained(jnp.asarray(v, dtype=float))
            if name in self.hierarchy.params and self.n_site > 1 and self.hierarchy.mode != "pooled":
                continue  # hierarchical latents start at their median
            out[names.latent(name)] = z
        return out

    def laplace(self, draws: int = 1000, *, steps: int = 3000, learning_rate: float = 0.01, seed: int = 0,
                predictive_batch: int = 200, prior_draws: int = 200, progress: bool = False,
            daily: bool | int = True, model_points: bool = True):
        """MAP by SVI on a Laplace guide, then ``draws`` samples of the Laplace approximation."""
        from bayeslsm.infer.samplers import Laplace

        return self.sample(Laplace(draws=draws, steps=steps, learning_rate=learning_rate, progress=progress),
                           seed=seed, predictive_batch=predictive_batch, prior_draws=prior_draws, daily=daily,
                           model_points=model_points)

    def svi(self, draws: int = 1000, *, steps: int = 3000, learning_rate: float = 0.01, seed: int = 0,
            predictive_batch: int = 200, prior_draws: int = 200, progress: bool = False,
            daily: bool | int = True, model_points: bool = True):
        """Variational inference with a multivariate-normal guide (``AutoMultivariateNormal``)."""
        from bayeslsm.infer.samplers import SVI

        return self.sample(SVI(draws=draws, steps=steps, learning_rate=learning_rate, progress=progress),
                           seed=seed, predictive_batch=predictive_batch, prior_draws=prior_draws, daily=daily,
                           model_points=model_points)

    def chees(self, chains: int = 32, warmup: int = 300, draws: int = 200, *, seed: int = 0,
              checkpoint_dir: str | None = None, predictive_batch: int = 200, prior_draws: int = 200,
              **options):
        """Sample with many-chain ChEES-HMC (:class:`bayeslsm.infer.samplers.ChEES`, options passed on)."""
        from bayeslsm.infer.samplers import ChEES

        return self.sample(ChEES(chains=chains, warmup=warmup, draws=draws, checkpoint_dir=checkpoint_dir,
                                 **options), seed=seed, predictive_batch=predictive_batch, prior_draws=prior_draws)

    def prior_predictive(self, draws: int = 500, *, seed: int = 0, predictive_batch: int = 200):
        """Prior and prior-predictive draws only, as ``InferenceData``."""
        from bayeslsm.infer.results import build_inference_data

        key = jax.random.PRNGKey(seed)
        return build_inference_data(self, None, None, dict(method="prior_predictive", seed=seed), None, key,
                                    batch=predictive_batch, prior_draws=draws)

    # ------------------------------------------------------------------------------------------
    def _posterior_sites(self) -> list[str]:
        """Names of sample and deterministic sites that describe the posterior (no daily series).

        The model is traced abstractly (``jax.eval_shape``): only the site names are needed, and an
        eager run of the model executes the daily scan op by op (about 45 s for the demo).
        """
        if getattr(self, "_posterior_site_names", None) is None:
            streams = {sd.config.name for sd in self.streams}
            found: list[str] = []

            def sites():
                tr = numpyro.handlers.trace(numpyro.handlers.seed(self.numpyro_model, 0)).get_trace(obs=None)
                found.extend(n for n, s in tr.items()
                             if s["type"] in ("sample", "deterministic") and not s.get("is_observed", False)
                             and n not in streams)
                return 0

            jax.eval_shape(sites)
            self._posterior_site_names = tuple(found)
        return list(self._posterior_site_names)
