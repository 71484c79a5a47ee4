"""Observation-stream configuration: which model output, on which support, with which bias and error.

A stream is configured in an experiment file (TOML) as a table, e.g.::

    [[streams]]
    name = "NEE"
    uncertainty = "NEE_VUT_REF_RANDUNC"
    error = {kind = "laplace_hetero"}

    [[streams]]
    name = "LAI"
    support = "8D-year"
    error = {kind = "gaussian", sigma = 0.3}

    [[streams]]
    name = "SIF"                       # compared with model GPP through a linear map
    support = "monthly"
    bias = {kind = "linear", slope = {prior = "lognormal", loc = -2.3, scale = 1.0}}

and parsed with :meth:`StreamConfig.from_dict`. Defaults come from :data:`STREAM_DEFAULTS`: the model
output a stream name refers to (:data:`STREAM_VARIABLES`), its support, and a typical magnitude
``scale`` [stream units] used for the default priors of additive biases (Normal(0, scale)) and of
error scales (HalfNormal(scale)). Streams not in the table need an explicit ``variable`` and, unless
they give ``error.sigma`` (or ``error.scale``), fail with a message saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from bayeslsm.obs._exceptions import ConfigurationError
from bayeslsm.obs.bias import BiasModel
from bayeslsm.obs.errors import ErrorModel
from bayeslsm.obs.operators import AGGREGATIONS, Support

__all__ = ["ConfigurationError", "STREAM_DEFAULTS", "STREAM_VARIABLES", "StreamConfig", "StreamDefaults"]


class StreamDefaults(NamedTuple):
    """Defaults of a known stream name.

    Attributes
    ----------
    variable
        Model output field compared with the stream.
    units
        Units of the stream (model units; the data layer converts observations to them).
    scale
        Typical size of errors and biases [units]: sd of the default additive-bias prior and
        scale of the default HalfNormal error prior.
    support
        Default support.
    proxy
        The stream measures something else that tracks ``variable`` (e.g. SIF vs GPP): it needs a
        ``linear``, ``both`` or ``multiplicative`` bias.
    """

    variable: str
    units: str
    scale: float
    support: str = "daily"
    proxy: bool = False


STREAM_DEFAULTS: dict[str, StreamDefaults] = {
    "NEE": StreamDefaults("NEE", "gC m-2 d-1", 1.0),
    "GPP": StreamDefaults("GPP", "gC m-2 d-1", 1.0),
    "RECO": StreamDefaults("Reco", "gC m-2 d-1", 1.0),
    "LE": StreamDefaults("LE", "W m-2", 10.0),
    "ET": StreamDefaults("ET", "mm d-1", 0.5),
    "LAI": StreamDefaults("LAI", "m2 m-2", 0.5),
    "SIF": StreamDefaults("GPP", "mW m-2 nm-1 sr-1", 0.2, proxy=True),
    "biomass": StreamDefaults("C_woo_end", "gC m-2", 500.0, "instant"),
    "C_woo": StreamDefaults("C_woo_end", "gC m-2", 500.0, "instant"),
    "C_fol": StreamDefaults("C_fol_end", "gC m-2", 50.0, "instant"),
    "C_roo": StreamDefaults("C_roo_end", "gC m-2", 100.0, "instant"),
    "C_lab": StreamDefaults("C_lab_end", "gC m-2", 50.0, "instant"),
    "C_lit": StreamDefaults("C_lit_end", "gC m-2", 100.0, "instant"),
    "C_som": StreamDefaults("C_som_end", "gC m-2", 1000.0, "instant"),
}
"""Known stream names and their defaults."""

STREAM_VARIABLES: dict[str, str] = {k: v.variable for k, v in STREAM_DEFAULTS.items()}
"""Stream name -> model output field (``Outputs`` NamedTuple field name)."""

_KEYS = ("name", "variable", "support", "how", "bias", "error", "uncertainty")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PROXY_KINDS = ("linear", "both", "multiplicative")


@dataclass(frozen=True)
class StreamConfig:
    """One observation stream (static configuration).

    Parameters
    ----------
    name
        Stream name; the observation variable and the NumPyro site are called this, bias and
        error parameters ``{name}_...``. Letters, digits and ``_``, starting with a letter.
    variable
        Model output field; default from :data:`STREAM_VARIABLES` (required for other names).
    support
        ``"daily"``, ``"instant"``, ``"<n>D"``, ``"<n>D-year"``, ``"monthly"`` or ``"annual"``
        (:mod:`bayeslsm.obs.operators`); stored in canonical form. Default from the table, else daily.
    how
        ``"mean"`` or ``"sum"`` over each support period.
    bias
        :class:`~bayeslsm.obs.bias.BiasModel`, or a dict / kind string for it; default ``"none"``.
    error
        :class:`~bayeslsm.obs.errors.ErrorModel`, or a dict / kind string; default Gaussian with
        ``sigma ~ HalfNormal(scale)`` from the table.
    uncertainty
        Name of the per-observation uncertainty variable (sd, stream units), e.g.
        ``"NEE_VUT_REF_RANDUNC"``, or ``None``.

    Raises
    ------
    ConfigurationError
        Naming the stream and the key, for anything that cannot work.

    Examples
    --------
    >>> c = StreamConfig.from_dict({"name": "LAI", "support": "8D", "error": {"kind": "gaussian", "sigma": 0.1}})
    >>> c.variable, c.support, c.error.sigma
    ('LAI', '8D', 0.1)
    """

    name: str
    variable: str | None = None
    support: str | None = None
    how: str = "mean"
    bias: BiasModel | Mapping | str | None = None
    error: ErrorModel | Mapping | str | None = None
    uncertainty: str | None = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: resolve defaults once)
        name = self.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                f"stream name must be letters, digits and '_', starting with a letter (it becomes a NumPyro site "
                f"and a netCDF variable); got {name!r}"
            )
        where = f"stream {name!r}"
        defaults = STREAM_DEFAULTS.get(name)
        if self.variable is None:
            if defaults is None:
                raise ConfigurationError(
                    f"{where}: unknown stream name and no `variable`; give variable = '<model output field>' "
                    f"or use one of the known names {sorted(STREAM_DEFAULTS)}"
                )
            set_("variable", defaults.variable)
        elif not isinstance(self.variable, str) or not self.variable:
            raise ConfigurationError(f"{where}.variable must be a model output field name; got {self.variable!r}")
        support = self.support if self.support is not None else (defaults.support if defaults else "daily")
        try:
            set_("support", str(Support.parse(support)))
        except ConfigurationError as e:
            raise ConfigurationError(f"{where}.support: {e}") from None
        if self.how not in AGGREGATIONS:
            raise ConfigurationError(f"{where}.how must be one of {AGGREGATIONS}; got {self.how!r}")
        scale = defaults.scale if defaults else None
        if not isinstance(self.bias, BiasModel):
            set_("bias", BiasModel.from_dict(self.bias, f"{where}: bias", default_scale=scale))
        if not isinstance(self.error, ErrorModel):
            set_("error", ErrorModel.from_dict(self.error, f"{where}: error", default_scale=scale))
        if self.uncertainty is not None and (not isinstance(self.uncertainty, str) or not self.uncertainty):
            raise ConfigurationError(f"{where}.uncertainty must be a variable name or None; got {self.uncertainty!r}")
        if self.error.use_obs_uncertainty == "only" and self.uncertainty is None:
            raise ConfigurationError(
                f"{where}: error.use_obs_uncertainty = 'only' needs `uncertainty`, the name of the per-observation "
                f"uncertainty variable"
            )
        if defaults is not None and defaults.proxy and self.variable == defaults.variable \
                and self.bias.kind not in _PROXY_KINDS:
            raise ConfigurationError(
                f"{where}: {name} is compared with model {self.variable} through a linear map; set bias.kind to "
                f"'linear' (with a slope prior, e.g. bias = {{kind = 'linear', slope = {{prior = 'lognormal', "
                f"loc = -2.3, scale = 1.0}}}}), not {self.bias.kind!r}"
            )

    @property
    def support_spec(self) -> Support:
        """The parsed :class:`~bayeslsm.obs.operators.Support`."""
        return Support.parse(self.support)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StreamConfig":
        """Parse a plain dict (e.g. one ``[[streams]]`` table of a TOML experiment file).

        Raises
        ------
        ConfigurationError
            For a missing name, unknown keys and everything :class:`StreamConfig` rejects.
        """
        if isinstance(d, StreamConfig):
            return d
        if not isinstance(d, Mapping):
            raise ConfigurationError(f"a stream must be a table/dict with at least 'name'; got {d!r}")
        if "name" not in d:
            raise ConfigurationError(f"a stream needs a 'name'; got keys {sorted(d)}")
        unknown = sorted(set(d) - set(_KEYS))
        if unknown:
            raise ConfigurationError(
                f"stream {d['name']!r}: unknown key(s) {unknown}; expected some of {list(_KEYS)}"
            )
        return cls(**dict(d))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form accepted by :meth:`from_dict` (defaults resolved)."""
        out = {"name": self.name, "variable": self.variable, "support": self.support, "how": self.how,
               "bias": self.bias.to_dict(), "error": self.error.to_dict()}
        if self.uncertainty is not None:
            out["uncertainty"] = self.uncertainty
        return out
