"""Prior specifications for bias and error parameters, and the "fixed value or prior" rule.

Every bias or error parameter of a stream (``sigma``, ``df``, ``rho``, ``add``, ``mult`` ...) is given
either as

* a **number**: the parameter is fixed at that value and no NumPyro site is created, or
* a :class:`PriorSpec` (in TOML/dicts: ``{prior = "halfnormal", scale = 1.0}``): the parameter is
  inferred, with that prior, under the site name documented by the bias or error model.

Families and their arguments (all in the parameter's units):

=============  ==============================  ==========
family         arguments                       support
=============  ==============================  ==========
normal         ``loc`` (default 0), ``scale``  real
halfnormal     ``scale``                       positive
halfcauchy     ``scale``                       positive
lognormal      ``loc`` (default 0), ``scale``  positive (``loc``, ``scale`` of the log)
exponential    ``rate``                        positive
gamma          ``concentration``, ``rate``     positive
beta           ``a``, ``b``                    (0, 1)
uniform        ``low``, ``high``               (low, high)
=============  ==============================  ==========
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

import jax.numpy as jnp

from bayeslsm.obs._exceptions import ConfigurationError

__all__ = ["PRIOR_FAMILIES", "PriorSpec", "ParamSpec", "parse_param", "sample_param", "param_to_config"]

# family -> ((argument, default or None if required), ...)
PRIOR_FAMILIES: dict[str, tuple[tuple[str, float | None], ...]] = {
    "normal": (("loc", 0.0), ("scale", None)),
    "halfnormal": (("scale", None),),
    "halfcauchy": (("scale", None),),
    "lognormal": (("loc", 0.0), ("scale", None)),
    "exponential": (("rate", None),),
    "gamma": (("concentration", None), ("rate", None)),
    "beta": (("a", None), ("b", None)),
    "uniform": (("low", None), ("high", None)),
}
_POSITIVE_ARGS = {"scale", "rate", "concentration", "a", "b"}
_POSITIVE_FAMILIES = {"halfnormal", "halfcauchy", "lognormal", "exponential", "gamma"}

# Domains a parameter may live in; the prior's support must lie inside.
DOMAINS = ("real", "positive", "nonnegative", "unit")


@dataclass(frozen=True)
class PriorSpec:
    """A prior distribution by family name and arguments (hashable, static configuration).

    Parameters
    ----------
    family
        One of :data:`PRIOR_FAMILIES`.
    params
        ``((argument, value), ...)`` in the order of :data:`PRIOR_FAMILIES`; use the class-method
        constructors (:meth:`normal`, :meth:`halfnormal`, ...) rather than this tuple.

    Examples
    --------
    >>> PriorSpec.halfnormal(1.0).to_dict()
    {'prior': 'halfnormal', 'scale': 1.0}
    """

    family: str
    params: tuple[tuple[str, float], ...]

    def __post_init__(self):
        check_prior(self.family, dict(self.params), "prior")

    # --- constructors ------------------------------------------------------------------------
    @classmethod
    def make(cls, family: str, where: str = "prior", **kwargs: float) -> "PriorSpec":
        """Build from a family name and keyword arguments, filling defaults and validating."""
        args = check_prior(family, kwargs, where)
        return cls(family, tuple(args.items()))

    @classmethod
    def normal(cls, loc: float = 0.0, scale: float = 1.0) -> "PriorSpec":
        return cls.make("normal", loc=loc, scale=scale)

    @classmethod
    def halfnormal(cls, scale: float) -> "PriorSpec":
        return cls.make("halfnormal", scale=scale)

    @classmethod
    def halfcauchy(cls, scale: float) -> "PriorSpec":
        return cls.make("halfcauchy", scale=scale)

    @classmethod
    def lognormal(cls, loc: float = 0.0, scale: float = 1.0) -> "PriorSpec":
        return cls.make("lognormal", loc=loc, scale=scale)

    @classmethod
    def exponential(cls, rate: float) -> "PriorSpec":
        return cls.make("exponential", rate=rate)

    @classmethod
    def gamma(cls, concentration: float, rate: float) -> "PriorSpec":
        return cls.make("gamma", concentration=concentration, rate=rate)

    @classmethod
    def beta(cls, a: float, b: float) -> "PriorSpec":
        return cls.make("beta", a=a, b=b)

    @classmethod
    def uniform(cls, low: float, high: float) -> "PriorSpec":
        return cls.make("uniform", low=low, high=high)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "prior") -> "PriorSpec":
        """Parse ``{"prior": family, **arguments}``; ``where`` prefixes error messages."""
        d = dict(d)
        if "prior" not in d:
            raise ConfigurationError(
                f"{where}: a prior needs a 'prior' key naming its family (one of {sorted(PRIOR_FAMILIES)}); "
                f"got keys {sorted(d)}"
            )
        family = d.pop("prior")
        return cls.make(family, where=where, **d)

    # --- use ----------------------------------------------------------------------------------
    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"prior": self.family, **self.kwargs}

    def distribution(self):
        """The NumPyro distribution of this prior (scalar batch shape)."""
        import numpyro.distributions as dist

        p = self.kwargs
        f = self.family
        if f == "normal":
            return dist.Normal(p["loc"], p["scale"])
        if f == "halfnormal":
            return dist.HalfNormal(p["scale"])
        if f == "halfcauchy":
            return dist.HalfCauchy(p["scale"])
        if f == "lognormal":
            return dist.LogNormal(p["loc"], p["scale"])
        if f == "exponential":
            return dist.Exponential(p["rate"])
        if f == "gamma":
            return dist.Gamma(p["concentration"], p["rate"])
        if f == "beta":
            return dist.Beta(p["a"], p["b"])
        if f == "uniform":
            return dist.Uniform(p["low"], p["high"])
        raise AssertionError(f)  # unreachable: validated in __post_init__

    def support_within(self, domain: str) -> bool:
        """Whether every value this prior can produce lies in ``domain`` (one of :data:`DOMAINS`)."""
        p = self.kwargs
        if domain == "real":
            return True
        if domain in ("positive", "nonnegative"):
            return self.family in _POSITIVE_FAMILIES or self.family == "beta" or (
                self.family == "uniform" and p["low"] >= 0.0)
        if domain == "unit":
            return self.family == "beta" or (self.family == "uniform" and p["low"] >= 0.0 and p["high"] <= 1.0)
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")


def check_prior(family: Any, kwargs: Mapping[str, Any], where: str) -> dict[str, float]:
    """Validate a family and its arguments; return the arguments with defaults filled, in order."""
    if family not in PRIOR_FAMILIES:
        raise ConfigurationError(f"{where}: unknown prior family {family!r}; expected one of {sorted(PRIOR_FAMILIES)}")
    spec = PRIOR_FAMILIES[family]
    names = [n for n, _ in spec]
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise ConfigurationError(f"{where}: unknown argument(s) {unknown} for a {family} prior; expected {names}")
    out: dict[str, float] = {}
    for n, default in spec:
        if n in kwargs:
            v = kwargs[n]
        elif default is not None:
            v = default
        else:
            raise ConfigurationError(f"{where}: a {family} prior needs {n!r}; got {dict(kwargs)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigurationError(f"{where}.{n} must be a finite number; got {v!r}")
        v = float(v)
        if n in _POSITIVE_ARGS and v <= 0.0:
            raise ConfigurationError(f"{where}.{n} must be positive; got {v!r}")
        out[n] = v
    if family == "uniform" and not out["low"] < out["high"]:
        raise ConfigurationError(f"{where}: a uniform prior needs low < high; got low={out['low']}, high={out['high']}")
    return out


ParamSpec = Union[float, PriorSpec]
"""A bias or error parameter: a fixed number, or a :class:`PriorSpec` (inferred)."""

_DOMAIN_TEXT = {
    "real": "a finite number",
    "positive": "a positive number",
    "nonnegative": "a non-negative number",
    "unit": "a number in [0, 1)",
}


def parse_param(value: Any, where: str, domain: str = "real") -> ParamSpec:
    """Parse a parameter given as a number (fixed), a dict (prior) or a :class:`PriorSpec`.

    Parameters
    ----------
    value
        ``float``/``int`` (fixed value), ``{"prior": family, ...}`` or :class:`PriorSpec`.
    where
        Location used in error messages, e.g. ``"stream 'NEE': error.sigma"``.
    domain
        Where the parameter must live: ``"real"``, ``"positive"``, ``"nonnegative"`` or ``"unit"``
        (``[0, 1)`` for a fixed value, ``(0, 1)`` for a prior's support).

    Raises
    ------
    ConfigurationError
        For a value outside ``domain``, a prior whose support leaves it, or a malformed prior.
    """
    if isinstance(value, PriorSpec):
        spec = value
    elif isinstance(value, Mapping):
        spec = PriorSpec.from_dict(value, where)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        ok = math.isfinite(v) and {
            "real": True,
            "positive": v > 0.0,
            "nonnegative": v >= 0.0,
            "unit": 0.0 <= v < 1.0,
        }[domain]
        if not ok:
            raise ConfigurationError(f"{where} must be {_DOMAIN_TEXT[domain]}; got {value!r}")
        return v
    else:
        raise ConfigurationError(
            f"{where} must be a number (fixed) or a prior such as {{prior = 'halfnormal', scale = 1.0}}; "
            f"got {value!r}"
        )
    if not spec.support_within(domain):
        raise ConfigurationError(
            f"{where}: a {spec.family} prior {spec.kwargs} can produce values outside the parameter's domain "
            f"({domain}); use one of "
            + {"positive": "halfnormal, lognormal, gamma, exponential, halfcauchy, or uniform with low >= 0",
               "nonnegative": "halfnormal, lognormal, gamma, exponential, halfcauchy, or uniform with low >= 0",
               "unit": "beta, or uniform with 0 <= low < high <= 1",
               "real": ""}[domain]
        )
    return spec


def sample_param(site: str, spec: ParamSpec, shape: tuple[int, ...] = ()):
    """Sample ``spec`` under NumPyro site ``site`` (vector ``shape`` as one event), or return the fixed value.

    A fixed value creates no site and is returned as a (weakly typed) JAX array of ``shape``.
    """
    if isinstance(spec, PriorSpec):
        import numpyro

        d = spec.distribution()
        if shape:
            d = d.expand(shape).to_event(len(shape))
        return numpyro.sample(site, d)
    return jnp.full(shape, spec) if shape else jnp.asarray(spec)


def param_to_config(spec: ParamSpec) -> float | dict:
    """Inverse of :func:`parse_param`: a number or a ``{"prior": ...}`` dict."""
    return spec.to_dict() if isinstance(spec, PriorSpec) else float(spec)
