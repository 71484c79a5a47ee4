r"""Bias models: systematic differences between what a stream measures and what the model predicts.

Convention (every kind is a special case)::

    observation = mult * model + add + seasonal(doy) + noise

with ``model`` the operator output (:mod:`bayeslsm.obs.operators`) and ``noise`` the error model
(:mod:`bayeslsm.obs.errors`).

=================  ============================================  =========================================
kind               biased prediction                             NumPyro sites (``s`` = stream name)
=================  ============================================  =========================================
``none``           ``model``                                     none
``additive``       ``model + add``                               ``s_bias_add``
``multiplicative`` ``mult * model``                              ``s_bias_mult``
``both``           ``mult * model + add``                        ``s_bias_mult``, ``s_bias_add``
``seasonal``       ``model + add + sum_k a_k sin(w_k) + b_k      ``s_bias_add``, ``s_bias_sin`` (K,),
                   cos(w_k)``, ``w_k = 2 pi k doy / 365.25``     ``s_bias_cos`` (K,)
``linear``         ``slope * model + offset``                    ``s_slope``, ``s_offset``
=================  ============================================  =========================================

``linear`` is the map of a proxy onto the model variable it tracks, e.g. solar-induced
fluorescence (SIF [mW m-2 nm-1 sr-1]) against GPP [gC m-2 d-1]: algebraically the same as ``both``,
named for what it is. It has no default slope prior: the slope's units and size depend on the
product (retrieval window, footprint), so a stream must say what it believes.

Default priors: ``add``, ``offset`` and each harmonic coefficient ~ Normal(0, ``scale``) with
``scale`` in the stream's units (:class:`~bayeslsm.obs.config.StreamConfig` fills it from the
stream's typical magnitude); ``mult`` ~ LogNormal(0, 0.2) (a factor within about x0.67 .. x1.48 at
95 %). Each parameter may instead be fixed (a number) or given another prior
(:mod:`bayeslsm.obs.prior`). The parameters are shared by all sites of a stream, unless
``pooling = "site"``.

Per-site bias with partial pooling (``pooling = "site"``)
--------------------------------------------------------
Any bias kind may give each site its own value of every inferred bias parameter, partially pooled
around a network mean (non-centred, Papaspiliopoulos et al. 2007, doi:10.1214/088342307000000014;
NumPyro ``examples/funnel.py``)::

    theta_mu       ~ the parameter's prior (as above)                 site ``s_bias_mult_mu`` ...
    tau            ~ HalfNormal(pool_scale)                           site ``s_bias_mult_sd_site``
    eps[i]         ~ Normal(0, 1)  (plate ``site``)                   site ``_eps_s_bias_mult``
    positive (mult, slope):   theta[i] = theta_mu * exp(tau * eps[i])   (tau in log units)
    real (add, offset, harmonics): theta[i] = theta_mu + tau * eps[i]   (tau in stream units)

``theta[i]`` is recorded under the unpooled site name (``s_bias_mult``, dim ``site``). ``pool_scale``
defaults to 0.1 for positive parameters (a between-site spread of about 10 %) and to ``scale`` (the
additive prior's sd) for real ones. Fixed (numeric) bias parameters stay fixed and shared. With one
site the pooled model reduces to the shared one. Prediction at a site the calibration never saw draws
``eps`` afresh (:mod:`bayeslsm.infer.predict`).

The identifiability trap
------------------------
A multiplicative bias on a flux is, to the likelihood, the same thing as a parameter that scales
that flux in the model. Take GPP from a light-use-efficiency or canopy-efficiency model,
``GPP_model = eps * f(LAI, PAR, T, ...)`` (``eps``: light-use efficiency, or DALEC's ACM canopy
efficiency ``ceff``, to which GPP is close to proportional). Observing GPP with a multiplicative bias
gives ``obs ~ mult * eps * f(...)``: only the product ``mult * eps`` is informed by the data.
Every pair ``(mult / c, c * eps)`` fits equally well, so the posterior is a ridge along
``log mult + log eps = const``.

Worked example: suppose a few years of daily GPP pin ``log(mult * eps)`` to +-0.01, the bias prior
is ``log mult ~ N(0, 0.2^2)`` (the default) and the catalogue prior of ``eps`` is broad,
``log eps ~ N(mu, 0.5^2)``. On the ridge ``log mult = c - log eps``, so the posterior precision of
``log eps`` is ``1/0.5^2 + 1/0.2^2 = 29`` -> posterior sd 0.19, i.e. about +-19 % in ``eps``. That
number is set almost entirely by the **bias prior**, and it does not shrink with more GPP data. A
report of "uncertainty reduction" in ``eps`` would be the bias prior restated, and NUTS sees the ridge
as strongly correlated ``eps``/``mult`` draws (low ESS; ``dense_mass=True`` helps sampling, not
identifiability).

What anchors it:

* another stream that sees the same quantity **without** that bias: NEE (``NEE = Reco - GPP``
  carries the GPP magnitude with no multiplier), eddy-covariance GPP without a bias term, or
  biomass increments (carbon that GPP must supply);
* an informative prior, on the bias (from an independent calibration of the product) or on ``eps``
  (from leaf-level measurements);
* fixing ``mult = 1`` for the stream one trusts in magnitude and letting others carry biases.

A proxy stream with a free ``linear`` slope (SIF) has the same property by construction: it informs
GPP's *timing and anomalies*, never its magnitude. Likewise an ``additive`` NEE bias trades off with
the base rates of heterotrophic and autotrophic respiration (a constant shift of Reco), and a
``multiplicative`` LE bias with stomatal or canopy-conductance scaling parameters (e.g. ``g_max``).
Check the posterior correlation between each bias parameter and the process parameters it can mimic.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import jax.numpy as jnp

from bayeslsm.obs._exceptions import ConfigurationError
from bayeslsm.obs.prior import ParamSpec, PriorSpec, param_to_config, parse_param, sample_param

__all__ = ["BIAS_KINDS", "BIAS_POOLINGS", "BiasModel", "DAYS_PER_YEAR"]

BIAS_KINDS = ("none", "additive", "multiplicative", "both", "seasonal", "linear")
DAYS_PER_YEAR = 365.25  # [d], period of the seasonal harmonics

_USES = {
    "none": (),
    "additive": ("add",),
    "multiplicative": ("mult",),
    "both": ("mult", "add"),
    "seasonal": ("add", "harmonic"),
    "linear": ("slope", "offset"),
}
_DOMAIN = {"add": "real", "mult": "positive", "harmonic": "real", "slope": "positive", "offset": "real"}
_CONFIG_KEYS = ("kind", "scale", "add", "mult", "harmonic", "n_harmonics", "slope", "offset", "pooling",
                "pool_scale")
BIAS_POOLINGS = ("none", "site")
DEFAULT_POOL_SCALE_LOG = 0.1  # [-] HalfNormal scale of the between-site spread of log(mult) / log(slope)


@dataclass(frozen=True)
class BiasModel:
    """Bias model of one observation stream (static configuration; see the module docstring).

    Parameters
    ----------
    kind
        One of :data:`BIAS_KINDS`.
    scale
        Standard deviation of the default Normal(0, scale) priors of ``add``, ``offset`` and the
        harmonic coefficients [stream units]. Needed when one of those is used and not given.
    add
        Additive bias (``additive``, ``both``; the constant of ``seasonal``) [stream units]: a number
        (fixed) or a :class:`~bayeslsm.obs.prior.PriorSpec`.
    mult
        Multiplicative factor [-] (``multiplicative``, ``both``); default LogNormal(0, 0.2).
    harmonic
        Prior of each sine and cosine coefficient (``seasonal``) [stream units].
    n_harmonics
        Number of harmonics K of the ``seasonal`` kind (1 = annual cycle, 2 adds a half-year term).
    slope
        Slope of ``linear`` [stream units per model-variable unit]; required for ``linear``.
    offset
        Offset of ``linear`` [stream units].
    pooling
        ``"none"`` (one value per stream, default) or ``"site"`` (per-site values partially pooled
        around a network mean; module docstring).
    pool_scale
        HalfNormal scale of the between-site spread (``pooling = "site"``): log units for ``mult`` and
        ``slope``, stream units for the others; defaults in the module docstring.

    Examples
    --------
    >>> b = BiasModel("both", scale=0.5)
    >>> b.add
    PriorSpec(family='normal', params=(('loc', 0.0), ('scale', 0.5)))
    >>> float(b.apply(2.0, {"mult": 1.1, "add": -0.3}))
    1.9000000000000001
    """

    kind: str = "none"
    scale: float | None = None
    add: ParamSpec | None = None
    mult: ParamSpec | None = None
    harmonic: ParamSpec | None = None
    n_harmonics: int = 1
    slope: ParamSpec | None = None
    offset: ParamSpec | None = None
    pooling: str = "none"
    pool_scale: float | None = None

    def __post_init__(self):
        self._validate("bias")

    def _validate(self, where: str) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: resolve defaults once)
        if self.kind not in BIAS_KINDS:
            raise ConfigurationError(f"{where}.kind: unknown bias kind {self.kind!r}; expected one of {BIAS_KINDS}")
        if self.scale is not None:
            if not {"add", "harmonic", "offset"} & set(_USES[self.kind]):
                raise ConfigurationError(
                    f"{where}.scale (sd of the additive priors) is not used by bias kind {self.kind!r}; remove it"
                )
            s = self.scale
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not s > 0 or s == float("inf"):
                raise ConfigurationError(f"{where}.scale must be a positive number [stream units]; got {s!r}")
            set_("scale", float(s))
        if self.pooling not in BIAS_POOLINGS:
            raise ConfigurationError(f"{where}.pooling must be one of {BIAS_POOLINGS}; got {self.pooling!r}")
        ps = self.pool_scale
        if ps is not None:
            if self.pooling != "site":
                raise ConfigurationError(f"{where}.pool_scale is only used with pooling = 'site'; remove it")
            if isinstance(ps, bool) or not isinstance(ps, (int, float)) or not 0 < ps < float("inf"):
                raise ConfigurationError(f"{where}.pool_scale must be a positive number; got {ps!r}")
            set_("pool_scale", float(ps))
        n = self.n_harmonics
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigurationError(f"{where}.n_harmonics must be an integer >= 1; got {n!r}")
        used = _USES[self.kind]
        for key in ("add", "mult", "harmonic", "slope", "offset"):
            value = getattr(self, key)
            if value is not None and key not in used:
                raise ConfigurationError(
                    f"{where}.{key} is not used by bias kind {self.kind!r} (which uses {list(used) or 'nothing'}); "
                    f"remove it or change the kind"
                )
            if value is None and key in used:
                value = self._default(key, where)
            if value is not None:
                set_(key, parse_param(value, f"{where}.{key}", _DOMAIN[key]))

    def _default(self, key: str, where: str) -> ParamSpec:
        if key == "mult":
            return PriorSpec.lognormal(0.0, 0.2)
        if key == "slope":
            raise ConfigurationError(
                f"{where}.slope: a 'linear' bias needs a prior for its slope (stream units per model unit), "
                f"e.g. slope = {{prior = 'lognormal', loc = -2.3, scale = 1.0}}; there is no default because "
                f"the slope depends on the product"
            )
        if self.scale is None:
            raise ConfigurationError(
                f"{where}.{key}: a {self.kind!r} bias needs a prior for {key!r}; give {key} (a number or a prior) "
                f"or `scale`, the sd of the default Normal(0, scale) prior in the stream's units"
            )
        return PriorSpec.normal(0.0, self.scale)

    # --- construction from plain data ------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str | None, where: str = "bias",
                  default_scale: float | None = None) -> "BiasModel":
        """Parse ``{"kind": ..., "scale": ..., "add": ..., ...}`` (or just a kind string).

        ``default_scale`` fills ``scale`` when the dict does not give it; ``where`` prefixes error
        messages (e.g. ``"stream 'NEE': bias"``).
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
        kind = kw.get("kind", "none")
        needs_scale = kind in _USES and any(kw.get(k) is None for k in ("add", "harmonic", "offset")
                                            if k in _USES[kind])
        if kw.get("scale") is None and default_scale is not None and needs_scale:
            kw["scale"] = default_scale
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
        for key in _USES[self.kind]:
            out[key] = param_to_config(getattr(self, key))
        if self.kind == "seasonal":
            out["n_harmonics"] = self.n_harmonics
        if self.pooling != "none":
            out["pooling"] = self.pooling
            if self.pool_scale is not None:
                out["pool_scale"] = self.pool_scale
        return out

    # --- NumPyro and JAX -------------------------------------------------------------------------
    def site_names(self, stream: str) -> dict[str, str]:
        """Parameter key -> NumPyro site name for this stream (inferred and fixed parameters alike)."""
        names = {"add": f"{stream}_bias_add", "mult": f"{stream}_bias_mult",
                 "slope": f"{stream}_slope", "offset": f"{stream}_offset"}
        out = {}
        for key in _USES[self.kind]:
            if key == "harmonic":
                out["sin"] = f"{stream}_bias_sin"
                out["cos"] = f"{stream}_bias_cos"
            else:
                out[key] = names[key]
        return out

    def sample(self, stream: str, n_site: int | None = None) -> dict[str, jnp.ndarray]:
        """Sample (or return fixed) bias parameters; call inside a NumPyro model.

        Parameters
        ----------
        stream
            Stream name (prefix of the NumPyro site names).
        n_site
            Number of sites of the calibration; with ``pooling = "site"`` and ``n_site > 1`` every
            inferred parameter gets one value per site (module docstring).

        Returns
        -------
        dict
            Keys ``add``, ``mult``, ``sin``, ``cos`` (shape (K,)), ``slope``, ``offset`` as used by
            :attr:`kind`; site names from :meth:`site_names`. Pooled parameters have a leading
            ``site`` axis.
        """
        names = self.site_names(stream)
        pooled = self.pooling == "site" and n_site is not None and n_site > 1
        out = {}
        for key, site in names.items():
            spec = self.harmonic if key in ("sin", "cos") else getattr(self, key)
            shape = (self.n_harmonics,) if key in ("sin", "cos") else ()
            if pooled and isinstance(spec, PriorSpec):
                out[key] = self._sample_pooled(site, key, spec, shape, n_site)
            else:
                out[key] = sample_param(site, spec, shape)
        return out

    def pooled_names(self, stream: str) -> tuple[str, ...]:
        """Names of the per-site (``site``-dimensioned) bias sites of this stream (empty unless pooled)."""
        if self.pooling != "site":
            return ()
        return tuple(site for key, site in self.site_names(stream).items()
                     if isinstance(self.harmonic if key in ("sin", "cos") else getattr(self, key), PriorSpec))

    def pool_scale_of(self, key: str) -> float:
        """HalfNormal scale of the between-site spread of parameter ``key`` (module docstring)."""
        if self.pool_scale is not None:
            return self.pool_scale
        if key in ("mult", "slope"):
            return DEFAULT_POOL_SCALE_LOG
        if self.scale is not None:
            return self.scale
        spec = self.harmonic if key in ("sin", "cos") else getattr(self, key)
        return float(spec.kwargs.get("scale", 1.0))

    def _sample_pooled(self, site: str, key: str, spec: PriorSpec, shape: tuple, n_site: int):
        import numpyro
        import numpyro.distributions as dist

        mu = sample_param(f"{site}_mu", spec, shape)
        tau = numpyro.sample(f"{site}_sd_site", dist.HalfNormal(self.pool_scale_of(key)))
        with numpyro.plate("site", n_site, dim=-1):
            d = dist.Normal(0.0, 1.0)
            if shape:
                d = d.expand(shape).to_event(len(shape))
            eps = numpyro.sample(f"_eps_{site}", d)
        value = mu * jnp.exp(tau * eps) if key in ("mult", "slope") else mu + tau * eps
        return numpyro.deterministic(site, value)

    def apply(self, pred, params: Mapping[str, Any], doy=None) -> jnp.ndarray:
        """The biased prediction (pure JAX).

        Parameters
        ----------
        pred
            (..., n) model prediction on the observation support [stream units].
        params
            From :meth:`sample` (or values for the same keys).
        doy
            (n,) day of year of each support point [d] (``seasonal`` only; broadcast along the last
            axis of ``pred``).
        """
        pred = jnp.asarray(pred)
        k = self.kind
        if k == "none":
            return pred
        if self.pooling == "site":
            # per-site values (site,) / harmonics (site, K): broadcast along the support axis of (site, n)
            params = {key: (jnp.asarray(v)[..., None] if key not in ("sin", "cos") and jnp.ndim(v) == 1 else
                            jnp.asarray(v)[..., None, :] if key in ("sin", "cos") and jnp.ndim(v) == 2 else v)
                      for key, v in params.items()}
        if k == "additive":
            return pred + params["add"]
        if k == "multiplicative":
            return params["mult"] * pred
        if k == "both":
            return params["mult"] * pred + params["add"]
        if k == "linear":
            return params["slope"] * pred + params["offset"]
        # seasonal
        if doy is None:
            raise ValueError("a 'seasonal' bias needs `doy` (day of year of each support point)")
        return pred + params["add"] + seasonal_term(doy, params["sin"], params["cos"])


def seasonal_term(doy, a, b) -> jnp.ndarray:
    """``sum_k a_k sin(2 pi k doy / 365.25) + b_k cos(2 pi k doy / 365.25)``, shape of ``doy``."""
    a = jnp.asarray(a)
    k = jnp.arange(1, a.shape[-1] + 1, dtype=a.dtype)
    w = 2.0 * jnp.pi * jnp.asarray(doy, dtype=a.dtype)[..., None] * k / DAYS_PER_YEAR
    return jnp.sum(jnp.sin(w) * a + jnp.cos(w) * jnp.asarray(b), axis=-1)
