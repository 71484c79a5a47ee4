r"""Error models: the distribution of an observation around its biased model prediction.

Each kind yields a NumPyro distribution with **batch shape = prediction shape** whose ``log_prob``
is pointwise (one value per support point), so the caller can mask gaps with
``numpyro.handlers.mask`` and the inference layer can store per-point log-likelihoods.

=================  ==============================================  =====================================
kind               distribution of ``obs`` given prediction ``F``  NumPyro sites (``s`` = stream name)
=================  ==============================================  =====================================
``gaussian``       Normal(F, sd)                                   ``s_sigma``
``student_t``      StudentT(df, F, sd)                             ``s_sigma``, ``s_df``
``laplace_hetero`` Laplace(F, beta), ``beta = a + b |F|``          ``s_err_a``, ``s_err_b``
``ar1``            Gaussian AR(1) residuals (see below)            ``s_sigma``, ``s_ar1_rho``
=================  ==============================================  =====================================

A parameter given as a number is fixed (no site); otherwise it is inferred with its prior
(:mod:`bayeslsm.obs.prior`). Defaults: ``sigma`` and ``a`` ~ HalfNormal(``scale``) with ``scale`` in
the stream's units (filled from the stream's typical magnitude by
:class:`~bayeslsm.obs.config.StreamConfig`); ``b`` ~ HalfNormal(0.5) [-]; ``df`` ~ Gamma(2, 0.1)
(Juárez & Steel 2010); ``rho`` ~ Uniform(0, 1).

Heteroscedastic Laplace
    Eddy-covariance random flux errors are closer to double-exponential than Gaussian, with a scale
    that grows linearly with the flux magnitude (Richardson et al. 2006). ``F`` is the biased model
    prediction (not the observation, so that the density is a proper density of ``obs``); ``b`` is
    dimensionless, ``a`` in the stream's units. The standard deviation is ``sqrt(2) * beta``.

AR(1) residuals
    The standardized residuals ``z_i = (obs_i - F_i) / sd_i`` follow a stationary Gaussian AR(1)
    process on the support grid with unit variance and lag-one correlation ``rho`` **per support
    step** (one day for daily streams, one composite for 8-day streams, one listed date for
    ``instant`` streams). Given the previous *observed* point ``lag`` steps back,
    ``z_i | z_prev ~ Normal(rho**lag * z_prev, 1 - rho**(2 lag))``; the first observed point of a
    series is ``Normal(0, 1)``. The pointwise ``log_prob`` is this conditional density (minus
    ``log sd_i``), so the sum over the observed points is the exact joint log density of the
    observed points, whatever the gaps. ``lag`` comes from :func:`ar1_lags` at build time; 0 marks
    "no previous observed point". Sampling (prior/posterior predictive) simulates the process on
    the whole grid, whose restriction to the observed points has exactly that joint density.
    Standardizing before the AR(1) filter, so that correlation and heteroscedasticity combine, follows
    Schoups & Vrugt (2010).

Per-observation uncertainty
---------------------------
When an uncertainty ``unc`` (a standard deviation in the stream's units, e.g. FLUXNET
``NEE_VUT_REF_RANDUNC``) is passed, ``use_obs_uncertainty`` decides:

``"combine"`` (default)
    ``sigma`` is model-structural / representation error, independent of the measurement error:
    total sd = ``sqrt(unc**2 + sigma**2)`` (``student_t``: the same for its scale; ``ar1``: the same
    for each point's marginal sd). ``laplace_hetero``: total sd = ``sqrt(unc**2 + 2 beta**2)``, i.e.
    ``beta_total = sqrt(unc**2 / 2 + beta**2)``.
``"only"``
    The measurement uncertainty is the whole error: sd = ``unc`` (``laplace_hetero``:
    ``beta = unc / sqrt(2)``); ``sigma`` (or ``a``, ``b``) is then not a parameter at all, and
    ``unc`` is required.
``"ignore"``
    ``unc`` is not used.

References
----------
Richardson, A. D., et al. (2006). A multi-site analysis of random error in tower-based measurements
of carbon and energy fluxes. Agricultural and Forest Meteorology, 136, 1-18.
doi:10.1016/j.agrformet.2006.01.007

Schoups, G., & Vrugt, J. A. (2010). A formal likelihood function for parameter and predictive
inference of hydrologic models with correlated, heteroscedastic, and non-Gaussian errors. Water
Resources Research, 46, W10531. doi:10.1029/2009WR008933

Juárez, M. A., & Steel, M. F. J. (2010). Model-based clustering of non-Gaussian panel data based on
skew-t distributions. Journal of Business & Economic Statistics, 28(1), 52-66.
doi:10.1198/jbes.2009.07145
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayeslsm.obs._exceptions import ConfigurationError
from bayeslsm.obs.prior import ParamSpec, PriorSpec, param_to_config, parse_param, sample_param

__all__ = ["AR1Residuals", "ERROR_KINDS", "ErrorModel", "UNCERTAINTY_RULES", "ar1_lags"]

ERROR_KINDS = ("gaussian", "student_t", "laplace_hetero", "ar1")
UNCERTAINTY_RULES = ("combine", "only", "ignore")

_PARAMS = {
    "gaussian": ("sigma",),
    "student_t": ("sigma", "df"),
    "laplace_hetero": ("a", "b"),
    "ar1": ("sigma", "rho"),
}
_DOMAIN = {"sigma": "positive", "df": "positive", "rho": "unit", "a": "positive", "b": "nonnegative"}
_SITE = {"sigma": "sigma", "df": "df", "rho": "ar1_rho", "a": "err_a", "b": "err_b"}
_CONFIG_KEYS = ("kind", "scale", "sigma", "df", "rho", "a", "b", "use_obs_uncertainty")
_SQRT2 = float(np.sqrt(2.0))


def _uses_scale_params(kind: str, rule: str) -> tuple[str, ...]:
    """The parameters a kind uses under an uncertainty rule (``"only"`` drops sigma / a, b)."""
    ps = _PARAMS[kind]
    if rule == "only":
        ps = tuple(p for p in ps if p not in ("sigma", "a", "b"))
    return ps


@dataclass(frozen=True)
class ErrorModel:
    """Error model of one observation stream (static configuration; see the module docstring).

    Parameters
    ----------
    kind
        One of :data:`ERROR_KINDS`.
    scale
        Scale of the default HalfNormal priors of ``sigma`` and ``a`` [stream units]; needed when
        one of those is used and not given.
    sigma
        Standard deviation (``gaussian``, ``ar1``) or scale (``student_t``) [stream units]: a number
        (fixed) or a :class:`~bayeslsm.obs.prior.PriorSpec`.
    df
        Degrees of freedom of ``student_t`` [-]; default Gamma(2, 0.1).
    rho
        Lag-one correlation per support step of ``ar1`` [-], in [0, 1); default Uniform(0, 1).
    a, b
        Laplace scale ``beta = a + b |F|`` of ``laplace_hetero``: ``a`` [stream units], ``b`` [-].
    use_obs_uncertainty
        How a per-observation uncertainty is used: one of :data:`UNCERTAINTY_RULES`.

    Examples
    --------
    >>> e = ErrorModel("gaussian", sigma=0.5)
    >>> round(float(e.distribution(1.0, e.sample("NEE")).log_prob(1.0)), 6)
    -0.225791
    """

    kind: str = "gaussian"
    scale: float | None = None
    sigma: ParamSpec | None = None
    df: ParamSpec | None = None
    rho: ParamSpec | None = None
    a: ParamSpec | None = None
    b: ParamSpec | None = None
    use_obs_uncertainty: str = "combine"

    def __post_init__(self):
        self._validate("error")

    def _validate(self, where: str) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: resolve defaults once)
        if self.kind not in ERROR_KINDS:
            raise ConfigurationError(f"{where}.kind: unknown error kind {self.kind!r}; expected one of {ERROR_KINDS}")
        if self.use_obs_uncertainty not in UNCERTAINTY_RULES:
            raise ConfigurationError(
                f"{where}.use_obs_uncertainty must be one of {UNCERTAINTY_RULES}; got {self.use_obs_uncertainty!r}"
            )
        used = _uses_scale_params(self.kind, self.use_obs_uncertainty)
        if self.scale is not None:
            s = self.scale
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < float("inf"):
                raise ConfigurationError(f"{where}.scale must be a positive number [stream units]; got {s!r}")
            set_("scale", float(s))
        for key in ("sigma", "df", "rho", "a", "b"):
            value = getattr(self, key)
            if value is not None and key not in used:
                why = (f" with use_obs_uncertainty={self.use_obs_uncertainty!r}"
                       if key in _PARAMS[self.kind] else "")
                raise ConfigurationError(
                    f"{where}.{key} is not used by error kind {self.kind!r}{why} "
                    f"(which uses {list(used) or 'nothing'}); remove it or change the kind"
                )
            if value is None and key in used:
                value = self._default(key, where)
            if value is not None:
                set_(key, parse_param(value, f"{where}.{key}", _DOMAIN[key]))

    def _default(self, key: str, where: str) -> ParamSpec:
        if key == "df":
            return PriorSpec.gamma(2.0, 0.1)
        if key == "rho":
            return PriorSpec.uniform(0.0, 1.0)
        if key == "b":
            return PriorSpec.halfnormal(0.5)
        if self.scale is None:
            raise ConfigurationError(
                f"{where}.{key}: error kind {self.kind!r} needs {key!r}; give it (a number to fix it, or a prior "
                f"such as {{prior = 'halfnormal', scale = 1.0}}) or `scale`, the scale of the default HalfNormal "
                f"prior in the stream's units"
            )
        return PriorSpec.halfnormal(self.scale)

    # --- construction from plain data ------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str | None, where: str = "error",
                  default_scale: float | None = None) -> "ErrorModel":
        """Parse ``{"kind": ..., "sigma": ..., ...}`` (or just a kind string).

        ``default_scale`` fills ``scale`` when needed and not given; ``where`` prefixes error messages.
        A prior dict without its scale-type argument (``{"prior": "halfnormal"}``) takes ``scale``.
        """
        if d is None:
            d = {}
        if isinstance(d, str):
            d = {"kind": d}
        if not isinstance(d, Mapping):
            raise ConfigurationError(f"{where} must be a table/dict or a kind string; got {d!r}")
        unknown = sorted(set(d) - set(_CONFIG_KEYS))
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {unknown}; expected some of {list(_CONFIG_KEYS)}")
        kw = dict(d)
        kind = kw.get("kind", "gaussian")
        rule = kw.get("use_obs_uncertainty", "combine")
        used = _uses_scale_params(kind, rule) if kind in _PARAMS and rule in UNCERTAINTY_RULES else ()

        def _needs_scale(v) -> bool:  # a default prior, or a HalfNormal/HalfCauchy without its scale
            return v is None or (isinstance(v, Mapping) and v.get("prior") in ("halfnormal", "halfcauchy")
                                 and "scale" not in v)

        if kw.get("scale") is None and default_scale is not None and any(
                _needs_scale(kw.get(k)) for k in ("sigma", "a") if k in used):
            kw["scale"] = default_scale
        scale = kw.get("scale")
        for key in ("sigma", "a"):
            v = kw.get(key)
            if v is not None and _needs_scale(v) and scale is not None:
                kw[key] = {**v, "scale": scale}
        obj = cls.__new__(cls)
        for f in fields(cls):
            object.__setattr__(obj, f.name, kw.get(f.name, f.default))
        obj._validate(where)
        return obj

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form accepted by :meth:`from_dict` (resolved defaults included)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.scale is not None:
            out["scale"] = self.scale
        for key in _uses_scale_params(self.kind, self.use_obs_uncertainty):
            out[key] = param_to_config(getattr(self, key))
        out["use_obs_uncertainty"] = self.use_obs_uncertainty
        return out

    # --- NumPyro and JAX -------------------------------------------------------------------------
    def site_names(self, stream: str) -> dict[str, str]:
        """Parameter key -> NumPyro site name (``{stream}_sigma``, ``{stream}_ar1_rho`` ...)."""
        return {k: f"{stream}_{_SITE[k]}" for k in _uses_scale_params(self.kind, self.use_obs_uncertainty)}

    def sample(self, stream: str) -> dict[str, jnp.ndarray]:
        """Sample (or return fixed) error parameters; call inside a NumPyro model.

        Returns
        -------
        dict
            Keys among ``sigma``, ``df``, ``rho``, ``a``, ``b``; site names from :meth:`site_names`.
        """
        return {k: sample_param(site, getattr(self, k)) for k, site in self.site_names(stream).items()}

    def scale_of(self, pred, params: Mapping[str, Any], unc=None) -> jnp.ndarray:
        """Pointwise scale (sd, Student-t scale or Laplace ``beta``), broadcast to ``pred``'s shape."""
        pred = jnp.asarray(pred)
        rule = self.use_obs_uncertainty
        if rule == "only" and unc is None:
            raise ValueError(
                f"error model {self.kind!r} has use_obs_uncertainty='only' but no `unc` was given; pass the "
                f"per-observation uncertainty or use 'combine'"
            )
        use_unc = unc is not None and rule != "ignore"
        if self.kind == "laplace_hetero":
            if rule == "only":
                s = jnp.asarray(unc) / _SQRT2
            else:
                # |F| has a kink at F = 0: its gradient there is 0 (jnp.abs), harmless for beta > 0
                s = params["a"] + params["b"] * jnp.abs(pred)
                if use_unc:
                    s = jnp.sqrt(jnp.square(unc) / 2.0 + jnp.square(s))
        else:
            if rule == "only":
                s = jnp.asarray(unc)
            else:
                s = params["sigma"]
                if use_unc:
                    s = jnp.sqrt(jnp.square(unc) + jnp.square(s))
        return jnp.broadcast_to(jnp.asarray(s, dtype=pred.dtype), pred.shape)

    def distribution(self, pred, params: Mapping[str, Any], unc=None, lag=None) -> dist.Distribution:
        """The distribution of the observations given the (biased) prediction.

        Parameters
        ----------
        pred
            (..., n) biased prediction [stream units]; time (support) on the last axis.
        params
            From :meth:`sample`.
        unc
            Optional per-observation uncertainty (standard deviation) [stream units], broadcastable
            to ``pred``; see the module docstring for how it is used.
        lag
            ``ar1`` only: integer array like ``pred`` from :func:`ar1_lags` (support steps back to
            the previous observed point, 0 for none). ``None``: a gap-free series.

        Returns
        -------
        numpyro.distributions.Distribution
            Batch shape ``pred.shape``, event shape ``()``.
        """
        pred = jnp.asarray(pred, dtype=jnp.result_type(float))
        s = self.scale_of(pred, params, unc)
        if self.kind == "gaussian":
            return dist.Normal(pred, s)
        if self.kind == "student_t":
            df = jnp.broadcast_to(jnp.asarray(params["df"], dtype=pred.dtype), pred.shape)
            return dist.StudentT(df, pred, s)
        if self.kind == "laplace_hetero":
            return dist.Laplace(pred, s)
        return AR1Residuals(pred, s, params["rho"], lag)


def ar1_lags(mask) -> np.ndarray:
    """Support steps from each observed point back to the previous observed point (build time).

    Parameters
    ----------
    mask
        (..., n) boolean, ``True`` where observed; time on the last axis, each leading index (site)
        is a separate series.

    Returns
    -------
    numpy.ndarray
        int64 array like ``mask``: ``i - j`` for an observed point ``i`` whose previous observed
        point is ``j``; 0 for the first observed point of a series and for unobserved points.

    Examples
    --------
    >>> ar1_lags([True, False, False, True, True, False]).tolist()
    [0, 0, 0, 3, 1, 0]
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim == 0:
        raise ValueError("`mask` must have a time axis (last axis); got a scalar")
    n = m.shape[-1]
    pos = np.where(m, np.arange(n), -1)
    last = np.maximum.accumulate(pos, axis=-1)  # last observed index up to and including i
    prev = np.concatenate([np.full(m.shape[:-1] + (1,), -1), last[..., :-1]], axis=-1)
    lag = np.where(m & (prev >= 0), np.arange(n) - prev, 0)
    return lag.astype(np.int64)


def _default_lag(shape: tuple[int, ...]) -> jnp.ndarray:
    n = shape[-1]
    return jnp.broadcast_to((jnp.arange(n) > 0).astype(int), shape)


class AR1Residuals(dist.Distribution):
    """Gaussian observations with stationary AR(1) standardized residuals, pointwise conditional density.

    Parameters
    ----------
    loc
        (..., n) mean (biased prediction); the last axis is the support (time) axis.
    scale
        Marginal standard deviation of each point, broadcastable to ``loc``.
    rho
        Lag-one correlation per support step, in [0, 1), broadcastable to ``loc``.
    lag
        Integer array like ``loc`` (:func:`ar1_lags`); ``None`` for a gap-free series
        (``[0, 1, 1, ...]``).

    Notes
    -----
    ``log_prob(value)[..., i]`` is ``log N(z_i; rho**lag_i * z_{i - lag_i}, 1 - rho**(2 lag_i)) - log scale_i``
    with ``z = (value - loc) / scale`` (``N(z_i; 0, 1)`` where ``lag_i = 0``). It reads the previous
    point from ``value`` itself, so it is pointwise in the sense of one term per point, and summing
    the terms of the observed points gives their exact joint density.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "rho": constraints.interval(0.0, 1.0)}
    support = constraints.real
    pytree_data_fields = ("loc", "scale", "rho", "lag")

    def __init__(self, loc, scale, rho, lag=None, *, validate_args=None):
        loc = jnp.asarray(loc)
        if loc.ndim == 0:
            raise ValueError("AR1Residuals needs a time axis: `loc` must be at least 1-D")
        shape = loc.shape
        self.loc = loc
        self.scale = jnp.broadcast_to(jnp.asarray(scale, dtype=loc.dtype), shape)
        self.rho = jnp.broadcast_to(jnp.asarray(rho, dtype=loc.dtype), shape)
        if lag is None:
            self.lag = _default_lag(shape)
        else:
            lag = jnp.asarray(lag)
            if lag.shape != shape:
                lag = jnp.broadcast_to(lag, shape)
            self.lag = lag
        super().__init__(batch_shape=shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        return jnp.square(self.scale)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape
        eps = jax.random.normal(key, shape, dtype=self.loc.dtype)
        if shape[-1] == 0:
            return self.loc + self.scale * eps
        e = jnp.moveaxis(eps, -1, 0)
        r = jnp.moveaxis(jnp.broadcast_to(self.rho, shape), -1, 0)

        def step(z_prev, inp):
            e_t, r_t = inp
            z = r_t * z_prev + jnp.sqrt(1.0 - r_t * r_t) * e_t
            return z, z

        _, zs = jax.lax.scan(step, e[0], (e[1:], r[1:]))
        z = jnp.moveaxis(jnp.concatenate([e[:1], zs], axis=0), 0, -1)
        return self.loc + self.scale * z

    def log_prob(self, value):
        value = jnp.asarray(value)
        z = (value - self.loc) / self.scale
        n = z.shape[-1]
        lag = jnp.broadcast_to(self.lag, z.shape)
        idx = jnp.clip(jnp.arange(n) - lag, 0, n - 1)
        z_prev = jnp.take_along_axis(z, idx, axis=-1)
        has_prev = lag > 0
        # lag 0 would give a zero conditional variance: compute with lag 1 and select afterwards,
        # so neither branch produces inf/NaN (and no NaN gradients leak through jnp.where)
        k = jnp.where(has_prev, lag, 1).astype(z.dtype)
        rho = jnp.broadcast_to(self.rho, z.shape)
        phi = jnp.power(rho, k)
        var = jnp.where(has_prev, 1.0 - jnp.square(phi), 1.0)
        m = jnp.where(has_prev, phi * z_prev, 0.0)
        return -0.5 * jnp.square(z - m) / var - 0.5 * jnp.log(2.0 * jnp.pi * var) - jnp.log(self.scale)
