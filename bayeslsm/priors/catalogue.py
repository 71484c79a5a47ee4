"""Parameter catalogues: the declarative ``models/*.toml`` files, their loader and validator.

A catalogue lists every parameter and initial pool of one process model with its description,
unit, bounds, default, transform and source, plus prior tables per plant functional type (PFT).
The TOML files live in the top-level ``models/`` folder and ship in the wheel as the data package
``bayeslsm._models``; :func:`load_catalogue` reads them with :mod:`importlib.resources` (or reads any
file given by path), validates them eagerly and returns an immutable :class:`Catalogue`.

File layout
-----------
::

    [catalogue]
    model = "dalec2"                 # required
    description = "..."              # required
    extends = "dalec2"               # optional: inherit parameters and priors from another catalogue
    references = ["...", ...]        # optional

    [parameters.theta_lit]           # one table per parameter, in the model's vector order
    kind = "process"                 # "process" (default) or "initial_pool"
    description = "..."              # required, non-empty
    unit = "d-1"                     # required, non-empty ("1" for dimensionless)
    lower = 1.141e-4                 # required
    upper = 0.02                     # required
    default = 3.44239452e-3          # required, inside the bounds
    transform = "log"                # "log", "logit" (scaled logit between the bounds) or "identity"
    source = "..."                   # required, non-empty
    state = "C_lab"                  # initial pools only (required there): the model State field
    note = "..."                     # optional: why a bound or default departs from its source
    reference_range = [a, b]         # optional: the range in the cited source, where it differs

    [priors.global]                  # default prior of each parameter (optional entries)
    Theta = {dist = "lognormal", median = 0.0336, sigma_log = 0.3, source = "..."}

    [priors.DBF]                     # one table per PFT
    clma = {dist = "lognormal", median = 35.0, sigma_log = 0.5, source = "..."}

    [plausible.DBF]                  # optional: plausible ranges of prior predictive quantities per PFT
    peak_LAI = {lower = 1.0, upper = 10.0, unit = "m2 m-2", source = "..."}

Plausible ranges (``[plausible.<PFT>]``, :class:`PlausibleRange`) bound what the model should predict
under its prior: one entry per quantity of :data:`PLAUSIBLE_QUANTITIES` (peak LAI, annual GPP, annual NEE),
each with ``lower < upper`` in the quantity's unit and a ``source``.  They are plausibility bounds, not
targets; :func:`bayeslsm.diagnostics.prior_predictive_check` compares the prior predictive with them.

Prior distributions (each entry needs a ``source``):

``{dist = "uniform"}``
    Uniform over the catalogue bounds *in the parameter's transformed coordinate*: flat in ``x``
    for ``logit`` and ``identity`` parameters, flat in ``log x`` (log-uniform) for ``log``
    parameters.  This is how :func:`bayeslsm.infer.parameters.z_prior` reads it, and how CARDAMOM
    samples strictly positive parameters.  Needs finite bounds.
``{dist = "lognormal", median = m, sigma_log = s}``
    ``log x ~ Normal(log m, s)``; ``m`` inside the bounds, ``s > 0``.  For ``logit`` parameters the
    transform keeps every draw inside the bounds (a truncated lognormal); for ``log`` parameters it is
    not truncated (the bounds are then the support of ``uniform`` and the range that defaults and
    medians are checked against).
``{dist = "truncnormal", mean = m, sd = s}``
    ``Normal(m, s)`` restricted to the catalogue bounds; ``m`` inside the bounds, ``s > 0``.

:meth:`Catalogue.prior_for` looks a parameter up in the PFT's table, then in ``[priors.global]``,
and falls back to ``uniform`` over the bounds.

Transforms (:meth:`ParameterSpec.to_unconstrained` / :meth:`ParameterSpec.from_unconstrained`,
:mod:`jax.numpy`, differentiable):

=========  ===================================  ==========================================
transform  ``z = to_unconstrained(x)``          ``x = from_unconstrained(z)``
=========  ===================================  ==========================================
log        ``log x``                            ``exp z``
logit      ``log(x - lower) - log(upper - x)``  ``lower + (upper - lower) * sigmoid(z)``
identity   ``x``                                ``z``
=========  ===================================  ==========================================

``logit`` maps the *open* interval ``(lower, upper)`` onto the real line, so it is valid whenever
``lower < upper`` (``lower = 0`` is fine); ``log`` needs ``lower > 0``.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import jax
import jax.numpy as jnp

__all__ = [
    "DISTRIBUTIONS",
    "KINDS",
    "PLAUSIBLE_QUANTITIES",
    "TRANSFORMS",
    "Catalogue",
    "CatalogueError",
    "ParameterSpec",
    "PlausibleRange",
    "PriorSpec",
    "available_catalogues",
    "load_catalogue",
]

TRANSFORMS = ("log", "logit", "identity")
"""Allowed values of a parameter's ``transform``."""

KINDS = ("process", "initial_pool")
"""Allowed values of a parameter's ``kind``."""

DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": (),
    "lognormal": ("median", "sigma_log"),
    "truncnormal": ("mean", "sd"),
}
"""Prior distribution names and the keys each one requires (besides ``dist`` and ``source``)."""

PLAUSIBLE_QUANTITIES: dict[str, tuple[str, str]] = {
    "peak_LAI": ("m2 m-2", "largest daily leaf area index of a calendar year, mean over complete years"),
    "annual_GPP": ("gC m-2 yr-1", "gross primary production summed over a calendar year, mean over complete years"),
    "annual_NEE": ("gC m-2 yr-1", "net ecosystem exchange (positive = source) summed over a calendar year, "
                                  "mean over complete years"),
}
"""Quantities a ``[plausible.<PFT>]`` table may bound: name -> (unit, definition)."""

GLOBAL = "global"
"""Name of the prior table used when a PFT has no entry for a parameter."""

_PACKAGE = "bayeslsm._models"
_CATALOGUE_KEYS = {"model", "description", "extends", "references"}
_TOP_KEYS = {"catalogue", "parameters", "priors", "plausible"}
_PLAUSIBLE_KEYS = {"lower", "upper", "unit", "source"}
_PARAM_REQUIRED = ("description", "unit", "lower", "upper", "default", "transform", "source")
_PARAM_OPTIONAL = ("kind", "state", "note", "reference_range")
_PRIOR_KEYS = {"dist", "source", "median", "sigma_log", "mean", "sd"}


class CatalogueError(ValueError):
    """A parameter catalogue that cannot be used.

    The message names the file, the parameter (or PFT prior entry), what was expected and what was
    found, e.g. ``dalec2.toml: parameter 'clma': default 500.0 is outside [20.0, 180.0]``.
    """


# --------------------------------------------------------------------------------------------------
# Small validation helpers (messages name the entry, what was expected and what was found)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(v: Any, what: str) -> float:
    if not _is_number(v):
        raise CatalogueError(f"{what} must be a number; found {v!r} ({type(v).__name__})")
    return float(v)


def _text(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise CatalogueError(f"{what} must be a non-empty string; found {v!r}")
    return v


def _fmt(x: float) -> str:
    return repr(float(x))


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorSpec:
    """A prior for one parameter of one PFT (or the global default).

    Parameters
    ----------
    dist
        One of :data:`DISTRIBUTIONS`: ``"uniform"``, ``"lognormal"`` or ``"truncnormal"``.
    source
        Where the numbers come from: a reference (with DOI where there is one), or
        ``"broad range, expert judgement"``.
    median, sigma_log
        ``lognormal`` only: median [parameter unit] and standard deviation of ``log x`` [-].
    mean, sd
        ``truncnormal`` only: location and scale [parameter unit] of the normal before truncation
        to the catalogue bounds.

    Examples
    --------
    >>> PriorSpec("lognormal", "Mahecha et al. 2010", median=0.0336, sigma_log=0.3).dist
    'lognormal'
    """

    dist: str
    source: str
    median: float | None = None
    sigma_log: float | None = None
    mean: float | None = None
    sd: float | None = None

    def __post_init__(self):
        if self.dist not in DISTRIBUTIONS:
            raise CatalogueError(
                f"unknown prior distribution `dist` = {self.dist!r}; expected one of {sorted(DISTRIBUTIONS)}"
            )
        _text(self.source, "`source`")
        given = {k for k in ("median", "sigma_log", "mean", "sd") if getattr(self, k) is not None}
        needed = set(DISTRIBUTIONS[self.dist])
        if needed - given:
            raise CatalogueError(
                f"prior {self.dist!r} needs {sorted(needed)}; missing {sorted(needed - given)}"
            )
        if given - needed:
            raise CatalogueError(
                f"prior {self.dist!r} takes {sorted(needed) or 'no parameters'}; "
                f"unexpected {sorted(given - needed)}"
            )
        for k in needed:
            v = _number(getattr(self, k), f"`{k}`")
            if not math.isfinite(v):
                raise CatalogueError(f"`{k}` must be finite; found {v!r}")
            object.__setattr__(self, k, v)
        for k in ("sigma_log", "sd", "median"):
            v = getattr(self, k)
            if v is not None and not v > 0:
                raise CatalogueError(f"`{k}` must be > 0; found {v!r}")

    @property
    def centre(self) -> float | None:
        """``median`` (lognormal) or ``mean`` (truncnormal); ``None`` for uniform."""
        return self.median if self.dist == "lognormal" else self.mean

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PriorSpec":
        """Build from a TOML inline table such as ``{dist = "uniform", source = "..."}``."""
        if not isinstance(d, Mapping):
            raise CatalogueError(f"a prior must be a table such as {{dist = \"uniform\", source = \"...\"}}; found {d!r}")
        unknown = set(d) - _PRIOR_KEYS
        if unknown:
            raise CatalogueError(f"unknown prior key(s) {sorted(unknown)}; expected keys among {sorted(_PRIOR_KEYS)}")
        if "dist" not in d:
            raise CatalogueError(f"prior is missing `dist`; expected one of {sorted(DISTRIBUTIONS)}")
        if "source" not in d:
            raise CatalogueError("prior is missing `source` (a reference, or \"broad range, expert judgement\")")
        return cls(**dict(d))

    def to_dict(self) -> dict[str, Any]:
        """The TOML/dict form (inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {"dist": self.dist}
        for k in DISTRIBUTIONS[self.dist]:
            out[k] = getattr(self, k)
        out["source"] = self.source
        return out


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlausibleRange:
    """A plausible range of one prior predictive quantity for one PFT (``[plausible.<PFT>]``).

    A plausibility bound, not a target: a prior whose predictive 5-95 % interval leaves it predicts
    ecosystems that are not observed (:func:`bayeslsm.diagnostics.prior_predictive_check`).

    Parameters
    ----------
    quantity
        One of :data:`PLAUSIBLE_QUANTITIES`.
    lower, upper
        Bounds [unit of the quantity], ``lower < upper``, finite.
    unit
        Must equal the quantity's unit in :data:`PLAUSIBLE_QUANTITIES`.
    source
        Where the bounds come from (with DOI), and how they were widened.

    Examples
    --------
    >>> PlausibleRange("peak_LAI", 0.5, 10.0, "m2 m-2", "Asner et al. 2003").contains(4.0)
    True
    """

    quantity: str
    lower: float
    upper: float
    unit: str
    source: str

    def __post_init__(self):
        if self.quantity not in PLAUSIBLE_QUANTITIES:
            raise CatalogueError(f"unknown plausible quantity {self.quantity!r}; expected one of "
                                 f"{list(PLAUSIBLE_QUANTITIES)}")
        lo = _number(self.lower, f"{self.quantity!r} `lower`")
        hi = _number(self.upper, f"{self.quantity!r} `upper`")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise CatalogueError(f"{self.quantity!r}: expected finite `lower` < `upper`; found [{_fmt(lo)}, {_fmt(hi)}]")
        want = PLAUSIBLE_QUANTITIES[self.quantity][0]
        if self.unit != want:
            raise CatalogueError(f"{self.quantity!r}: `unit` must be {want!r}; found {self.unit!r}")
        _text(self.source, f"{self.quantity!r} `source`")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    def contains(self, x: float) -> bool:
        """``lower <= x <= upper``."""
        return bool(self.lower <= x <= self.upper)


@dataclass(frozen=True)
class ParameterSpec:
    """One catalogue entry: a process parameter or an initial pool.

    Parameters
    ----------
    name
        Parameter name, as in the model's ``Params`` (process) or the catalogue's pool name
        (initial pools, e.g. ``cf_init``).
    description
        What the parameter means.
    unit
        Unit string (``"1"`` for dimensionless).
    lower, upper
        Bounds [unit].  ``logit``: the open interval maps onto the real line; ``log``: the support of
        the log-uniform prior; all transforms: the range defaults and prior centres must lie in.
    default
        Default value [unit].
    transform
        ``"log"``, ``"logit"`` or ``"identity"`` (see the module documentation).
    source
        Where the bounds and default come from.
    kind
        ``"process"`` or ``"initial_pool"``.
    state
        Initial pools: the model ``State`` field the pool initialises; ``None`` for process parameters.
    note
        Why a bound or default departs from its source, if it does.
    reference_range
        The range given by the cited source, where the catalogue bounds differ from it.

    Raises
    ------
    CatalogueError
        If the entry is inconsistent (bounds, default, transform, missing text).

    Examples
    --------
    >>> spec = ParameterSpec("frac", "a fraction", "1", 0.25, 0.75, 0.5, "logit", "expert judgement")
    >>> float(spec.to_unconstrained(0.5))
    0.0
    >>> float(spec.from_unconstrained(0.0))
    0.5
    """

    name: str
    description: str
    unit: str
    lower: float
    upper: float
    default: float
    transform: str
    source: str
    kind: str = "process"
    state: str | None = None
    note: str | None = None
    reference_range: tuple[float, float] | None = None

    def __post_init__(self):
        p = f"parameter {self.name!r}"
        _text(self.name, "parameter name")
        _text(self.description, f"{p}: `description`")
        _text(self.unit, f"{p}: `unit`")
        _text(self.source, f"{p}: `source`")
        if self.note is not None:
            _text(self.note, f"{p}: `note`")
        if self.transform not in TRANSFORMS:
            raise CatalogueError(f"{p}: unknown `transform` {self.transform!r}; expected one of {list(TRANSFORMS)}")
        if self.kind not in KINDS:
            raise CatalogueError(f"{p}: unknown `kind` {self.kind!r}; expected one of {list(KINDS)}")
        if self.kind == "initial_pool":
            if not isinstance(self.state, str) or not self.state.strip():
                raise CatalogueError(f"{p}: kind = 'initial_pool' needs `state`, the name of the model State field "
                                     f"this pool initialises (e.g. \"C_fol\"); found {self.state!r}")
        elif self.state is not None:
            raise CatalogueError(f"{p}: `state` is only allowed for kind = 'initial_pool'; found kind {self.kind!r}")
        lo = _number(self.lower, f"{p}: `lower`")
        hi = _number(self.upper, f"{p}: `upper`")
        x0 = _number(self.default, f"{p}: `default`")
        for attr, v in (("lower", lo), ("upper", hi), ("default", x0)):
            object.__setattr__(self, attr, v)
        if math.isnan(lo) or math.isnan(hi) or not math.isfinite(x0):
            raise CatalogueError(f"{p}: `lower`, `upper` and `default` must not be NaN (default finite); "
                                 f"found lower={lo!r}, upper={hi!r}, default={x0!r}")
        if self.transform in ("log", "logit"):
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise CatalogueError(f"{p}: transform {self.transform!r} needs finite bounds; "
                                     f"found lower={lo!r}, upper={hi!r}")
            if not lo < hi:
                raise CatalogueError(f"{p}: `lower` must be < `upper` for transform {self.transform!r}; "
                                     f"found lower={_fmt(lo)} >= upper={_fmt(hi)}")
        elif not lo <= hi:
            raise CatalogueError(f"{p}: `lower` must be <= `upper`; found lower={_fmt(lo)} > upper={_fmt(hi)}")
        if self.transform == "log" and not lo > 0:
            raise CatalogueError(f"{p}: transform 'log' needs `lower` > 0; found lower={_fmt(lo)} "
                                 f"(raise the lower bound or use transform 'logit')")
        if not self.contains(x0):
            raise CatalogueError(f"{p}: `default` {_fmt(x0)} is outside the {self._interval()} allowed by "
                                 f"transform {self.transform!r}")
        if self.reference_range is not None:
            rr = self.reference_range
            if not (isinstance(rr, (list, tuple)) and len(rr) == 2):
                raise CatalogueError(f"{p}: `reference_range` must be [lower, upper]; found {rr!r}")
            a = _number(rr[0], f"{p}: `reference_range[0]`")
            b = _number(rr[1], f"{p}: `reference_range[1]`")
            if not a <= b:
                raise CatalogueError(f"{p}: `reference_range` must be increasing; found {[a, b]}")
            object.__setattr__(self, "reference_range", (a, b))

    # --- bounds ----------------------------------------------------------------------------------
    def _interval(self) -> str:
        if self.transform == "logit":
            return f"open interval ({_fmt(self.lower)}, {_fmt(self.upper)})"
        return f"closed interval [{_fmt(self.lower)}, {_fmt(self.upper)}]"

    def contains(self, x: float) -> bool:
        """Whether a (concrete) value is admissible: strictly inside for ``logit``, inside otherwise."""
        x = float(x)
        if self.transform == "logit":
            return self.lower < x < self.upper
        return self.lower <= x <= self.upper

    # --- transforms (jax.numpy, differentiable) ---------------------------------------------------
    def to_unconstrained(self, x):
        """Map a value ``x`` [unit] to the unconstrained coordinate ``z`` [-] (array in, array out)."""
        x = jnp.asarray(x)
        x = x.astype(jnp.result_type(x.dtype, float))
        if self.transform == "log":
            return jnp.log(x)
        if self.transform == "logit":
            return jnp.log(x - self.lower) - jnp.log(self.upper - x)
        return x

    def from_unconstrained(self, z):
        """Map an unconstrained ``z`` [-] back to the parameter ``x`` [unit] (inverse of :meth:`to_unconstrained`)."""
        z = jnp.asarray(z)
        z = z.astype(jnp.result_type(z.dtype, float))
        if self.transform == "log":
            return jnp.exp(z)
        if self.transform == "logit":
            return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(z)
        return z

    def log_abs_det_jacobian(self, z):
        """``log |dx/dz|`` at ``z``, the change-of-variables term of a density defined on ``x``."""
        z = jnp.asarray(z)
        z = z.astype(jnp.result_type(z.dtype, float))
        if self.transform == "log":
            return z
        if self.transform == "logit":
            return math.log(self.upper - self.lower) + jax.nn.log_sigmoid(z) + jax.nn.log_sigmoid(-z)
        return jnp.zeros_like(z)


# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Catalogue:
    """A validated parameter catalogue (immutable).

    Parameters
    ----------
    model
        Model name (``"vsem"``, ``"dalec2"``, ``"dalec2_water"``).
    parameters
        Name -> :class:`ParameterSpec`, in the model's vector order (inherited entries first).
    pft_priors
        PFT -> parameter name -> :class:`PriorSpec`.
    global_priors
        Parameter name -> :class:`PriorSpec` used when a PFT has no entry.
    description
        One-line description of the catalogue.
    source
        Where it was read from (file path or ``bayeslsm._models/<name>.toml``).
    extends
        Name of the catalogue this one extends, or ``None``.
    references
        Literature the catalogue draws on.
    plausible
        PFT -> quantity -> :class:`PlausibleRange` (``[plausible.<PFT>]``): plausible prior predictive
        ranges, see :func:`bayeslsm.diagnostics.prior_predictive_check`.
    """

    model: str
    parameters: Mapping[str, ParameterSpec]
    pft_priors: Mapping[str, Mapping[str, PriorSpec]]
    global_priors: Mapping[str, PriorSpec] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    extends: str | None = None
    references: tuple[str, ...] = ()
    plausible: Mapping[str, Mapping[str, PlausibleRange]] = field(default_factory=dict)

    def __post_init__(self):
        where = self.source or self.model
        for name, spec in self.parameters.items():
            if not isinstance(spec, ParameterSpec) or spec.name != name:
                raise CatalogueError(f"{where}: `parameters[{name!r}]` must be a ParameterSpec named {name!r}; "
                                     f"found {spec!r}")

        def priors(table):  # PriorSpec objects, or their dict form {dist = ..., source = ...}
            return MappingProxyType({n: p if isinstance(p, PriorSpec) else PriorSpec.from_dict(p)
                                     for n, p in table.items()})

        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "global_priors", priors(self.global_priors))
        object.__setattr__(
            self, "pft_priors", MappingProxyType({k: priors(v) for k, v in self.pft_priors.items()})
        )
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "plausible", MappingProxyType(
            {pft: MappingProxyType(dict(t)) for pft, t in self.plausible.items()}))
        if GLOBAL in self.pft_priors:
            raise CatalogueError(f"{where}: PFT name {GLOBAL!r} is reserved for the "
                                 f"default prior table; give global priors as `global_priors`")
        tables = {f"priors.{GLOBAL}": self.global_priors}
        tables.update({f"priors.{pft}": t for pft, t in self.pft_priors.items()})
        for table, priors in tables.items():
            for name, prior in priors.items():
                _check_prior_against(where, table, name, prior, self.parameters)

    # --- look-ups --------------------------------------------------------------------------------
    @property
    def pfts(self) -> tuple[str, ...]:
        """PFTs with a prior table, sorted (``global`` excluded)."""
        return tuple(sorted(self.pft_priors))

    def names(self, kind: str | None = None) -> tuple[str, ...]:
        """Parameter names in catalogue order, optionally only those of one ``kind``."""
        _check_kind(kind)
        return tuple(n for n, s in self.parameters.items() if kind is None or s.kind == kind)

    def defaults(self, kind: str | None = None) -> dict[str, float]:
        """Default values by name.

        Parameters
        ----------
        kind
            ``"process"``, ``"initial_pool"`` or ``None`` (all).

        Returns
        -------
        dict
            Name -> default [parameter unit], in catalogue order.

        Examples
        --------
        >>> load_catalogue("vsem").defaults("initial_pool")
        {'Cv': 3.0, 'Cs': 15.0, 'Cr': 3.0}
        """
        return {n: self.parameters[n].default for n in self.names(kind)}

    @property
    def state_fields(self) -> dict[str, str]:
        """Initial-pool name -> the model ``State`` field it initialises."""
        return {n: s.state for n, s in self.parameters.items() if s.kind == "initial_pool"}

    def prior_for(self, name: str, pft: str | None = None) -> PriorSpec:
        """The prior of parameter ``name`` for ``pft``.

        Looks in the PFT's table, then in ``[priors.global]``, and falls back to ``uniform`` over the
        catalogue bounds.

        Parameters
        ----------
        name
            Parameter name (a key of :attr:`parameters`).
        pft
            PFT name (one of :attr:`pfts`) or ``None`` for the global prior.

        Returns
        -------
        PriorSpec

        Raises
        ------
        CatalogueError
            If ``name`` is not in the catalogue or ``pft`` has no prior table.

        Examples
        --------
        >>> load_catalogue("dalec2").prior_for("clma", "ENF").dist
        'lognormal'
        """
        if name not in self.parameters:
            raise CatalogueError(f"{self.model!r} catalogue has no parameter {name!r}; "
                                 f"expected one of {list(self.parameters)}")
        if pft is not None:
            if pft not in self.pft_priors:
                raise CatalogueError(f"{self.model!r} catalogue has no priors for PFT {pft!r}; "
                                     f"expected one of {list(self.pfts)} (or None for the global prior)")
            if name in self.pft_priors[pft]:
                return self.pft_priors[pft][name]
        if name in self.global_priors:
            return self.global_priors[name]
        return PriorSpec("uniform", "catalogue bounds (no PFT or global prior given)")


def _check_kind(kind):
    if kind is not None and kind not in KINDS:
        raise CatalogueError(f"`kind` must be one of {list(KINDS)} or None; got {kind!r}")


def _check_prior_against(where: str, table: str, name: str, prior: PriorSpec,
                         parameters: Mapping[str, ParameterSpec]) -> None:
    p = f"{where}: [{table}] {name!r}"
    if name not in parameters:
        raise CatalogueError(f"{p}: prior for a parameter that is not in the catalogue; "
                             f"expected one of {list(parameters)}")
    spec = parameters[name]
    if prior.dist == "uniform" and not (math.isfinite(spec.lower) and math.isfinite(spec.upper)):
        raise CatalogueError(f"{p}: a 'uniform' prior needs finite bounds; "
                             f"found [{_fmt(spec.lower)}, {_fmt(spec.upper)}]")
    centre = prior.centre
    if centre is not None and not spec.contains(centre):
        label = "median" if prior.dist == "lognormal" else "mean"
        raise CatalogueError(f"{p}: prior {label} {_fmt(centre)} is outside the parameter's "
                             f"{spec._interval()}")


# --------------------------------------------------------------------------------------------------
# Loading


def _models_root():
    """The folder of packaged catalogues: ``importlib.resources.files("bayeslsm._models")``.

    In a wheel, ``models/*.toml`` sit in ``bayeslsm/_models/`` and import as a namespace package.  A
    setuptools *editable* install maps ``bayeslsm._models`` to ``models/`` but its import finder only
    resolves mapped packages that have an ``__init__.py``; without one the import fails, and the
    source tree's ``models/`` folder (two levels above this file) is read instead.
    """
    try:
        return importlib.resources.files(_PACKAGE)
    except ModuleNotFoundError:
        src = Path(__file__).resolve().parents[2] / "models"
        if src.is_dir():
            return src
        raise CatalogueError(
            f"cannot find the packaged catalogues: {_PACKAGE!r} is not importable and {str(src)!r} does not "
            f"exist; reinstall bayeslsm"
        ) from None


def available_catalogues() -> tuple[str, ...]:
    """Names of the catalogues shipped in the package (``bayeslsm._models``).

    Examples
    --------
    >>> "dalec2" in available_catalogues()
    True
    """
    root = _models_root()
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml") and p.is_file()))


def _is_path(x) -> bool:
    if isinstance(x, os.PathLike):
        return True
    return isinstance(x, str) and (x.endswith(".toml") or os.sep in x or "/" in x)


def _read(text: str, label: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CatalogueError(f"{label}: not valid TOML: {e}") from None


def load_catalogue(model_name_or_path: str | os.PathLike) -> Catalogue:
    """Load and validate a parameter catalogue.

    Parameters
    ----------
    model_name_or_path
        A packaged catalogue name (``"vsem"``, ``"dalec2"``, ``"dalec2_water"``; see
        :func:`available_catalogues`) or the path of a ``.toml`` file.

    Returns
    -------
    Catalogue

    Raises
    ------
    CatalogueError
        If no such catalogue exists or it fails validation; the message names the file, the parameter
        and the problem.

    Examples
    --------
    >>> cat = load_catalogue("dalec2")
    >>> cat.parameters["clma"].unit
    'gC m-2'
    >>> "DBF" in cat.pfts
    True
    """
    if _is_path(model_name_or_path):
        path = Path(model_name_or_path)
        if not path.is_file():
            raise CatalogueError(f"catalogue file {str(path)!r} does not exist")
        return _load_file(path.resolve(), ())
    name = str(model_name_or_path)
    return _load_packaged(name)


@functools.lru_cache(maxsize=None)
def _load_packaged(name: str) -> Catalogue:
    return _load_resource(name, ())


def _load_resource(name: str, chain: tuple[str, ...]) -> Catalogue:
    available = available_catalogues()
    if name not in available:
        raise CatalogueError(f"no packaged catalogue named {name!r}; expected one of {list(available)} "
                             f"or the path of a .toml file")
    res = _models_root().joinpath(f"{name}.toml")
    label = f"{name}.toml"
    return _build(_read(res.read_text(encoding="utf-8"), label), label, None, chain + (label,))


def _load_file(path: Path, chain: tuple[str, ...]) -> Catalogue:
    label = str(path)
    return _build(_read(path.read_text(encoding="utf-8"), label), label, path.parent, chain + (label,))


def _resolve_extends(name: Any, label: str, directory: Path | None, chain: tuple[str, ...]) -> Catalogue:
    if not isinstance(name, str) or not name:
        raise CatalogueError(f"{label}: [catalogue] `extends` must be a catalogue name; found {name!r}")
    if directory is not None:
        sibling = (directory / f"{name}.toml").resolve()
        if sibling.is_file():
            if str(sibling) in chain:
                raise CatalogueError(f"{label}: circular `extends`: {' -> '.join(chain + (str(sibling),))}")
            return _load_file(sibling, chain)
    if f"{name}.toml" in chain:
        raise CatalogueError(f"{label}: circular `extends`: {' -> '.join(chain + (name + '.toml',))}")
    available = available_catalogues()
    if name not in available:
        where = " next to the file or" if directory is not None else ""
        raise CatalogueError(f"{label}: unknown `extends` = {name!r}; expected a catalogue{where} among "
                             f"the packaged ones {list(available)}")
    return _load_resource(name, chain)


def _build(doc: dict, label: str, directory: Path | None, chain: tuple[str, ...]) -> Catalogue:
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise CatalogueError(f"{label}: unknown top-level table(s) {sorted(unknown)}; expected {sorted(_TOP_KEYS)}")
    head = doc.get("catalogue")
    if not isinstance(head, dict):
        raise CatalogueError(f"{label}: missing [catalogue] table with `model` and `description`")
    unknown = set(head) - _CATALOGUE_KEYS
    if unknown:
        raise CatalogueError(f"{label}: unknown key(s) {sorted(unknown)} in [catalogue]; "
                             f"expected keys among {sorted(_CATALOGUE_KEYS)}")
    try:
        model = _text(head.get("model"), "[catalogue] `model`")
        description = _text(head.get("description"), "[catalogue] `description`")
    except CatalogueError as e:
        raise CatalogueError(f"{label}: {e}") from None
    references = head.get("references", [])
    if not (isinstance(references, list) and all(isinstance(r, str) and r.strip() for r in references)):
        raise CatalogueError(f"{label}: [catalogue] `references` must be a list of non-empty strings; "
                             f"found {references!r}")

    parent = None
    if "extends" in head:
        parent = _resolve_extends(head["extends"], label, directory, chain)

    # --- parameters --------------------------------------------------------------------------------
    params: dict[str, ParameterSpec] = dict(parent.parameters) if parent is not None else {}
    raw_params = doc.get("parameters", {})
    if not isinstance(raw_params, dict):
        raise CatalogueError(f"{label}: `parameters` must be a table of tables; found {raw_params!r}")
    for name, entry in raw_params.items():
        where = f"{label}: parameter {name!r}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: must be a table with keys {list(_PARAM_REQUIRED)}; found {entry!r}")
        if name in params:
            raise CatalogueError(f"{where}: already defined by the extended catalogue "
                                 f"{head.get('extends')!r}; an extending catalogue may only add parameters")
        missing = [k for k in _PARAM_REQUIRED if k not in entry]
        if missing:
            raise CatalogueError(f"{where}: missing required key(s) {missing}")
        extra = set(entry) - set(_PARAM_REQUIRED) - set(_PARAM_OPTIONAL)
        if extra:
            raise CatalogueError(f"{where}: unknown key(s) {sorted(extra)}; expected keys among "
                                 f"{list(_PARAM_REQUIRED) + list(_PARAM_OPTIONAL)}")
        try:
            params[name] = ParameterSpec(name=name, **entry)
        except CatalogueError as e:
            raise CatalogueError(f"{label}: {e}") from None
    if not params:
        raise CatalogueError(f"{label}: no [parameters.*] entries")

    # --- priors --------------------------------------------------------------------------------------
    global_priors: dict[str, PriorSpec] = dict(parent.global_priors) if parent is not None else {}
    pft_priors: dict[str, dict[str, PriorSpec]] = (
        {k: dict(v) for k, v in parent.pft_priors.items()} if parent is not None else {}
    )
    raw_priors = doc.get("priors", {})
    if not isinstance(raw_priors, dict):
        raise CatalogueError(f"{label}: `priors` must be a table of PFT tables; found {raw_priors!r}")
    for pft, table in raw_priors.items():
        if not isinstance(table, dict):
            raise CatalogueError(f"{label}: [priors.{pft}] must be a table of parameter priors; found {table!r}")
        target = global_priors if pft == GLOBAL else pft_priors.setdefault(pft, {})
        for name, raw in table.items():
            where = f"{label}: [priors.{pft}] {name!r}"
            if name in target:
                raise CatalogueError(f"{where}: already defined by the extended catalogue {head.get('extends')!r}")
            try:
                prior = PriorSpec.from_dict(raw)
            except (CatalogueError, TypeError) as e:
                raise CatalogueError(f"{where}: {e}") from None
            _check_prior_against(label, f"priors.{pft}", name, prior, params)
            target[name] = prior

    # --- plausible prior predictive ranges ------------------------------------------------------------
    plausible: dict[str, dict[str, PlausibleRange]] = (
        {k: dict(v) for k, v in parent.plausible.items()} if parent is not None else {}
    )
    raw_plaus = doc.get("plausible", {})
    if not isinstance(raw_plaus, dict):
        raise CatalogueError(f"{label}: `plausible` must be a table of PFT tables; found {raw_plaus!r}")
    for pft, table in raw_plaus.items():
        if not isinstance(table, dict):
            raise CatalogueError(f"{label}: [plausible.{pft}] must be a table of ranges; found {table!r}")
        target = plausible.setdefault(pft, {})
        for q, raw in table.items():
            where = f"{label}: [plausible.{pft}] {q!r}"
            if q in target:
                raise CatalogueError(f"{where}: already defined by the extended catalogue {head.get('extends')!r}")
            if not isinstance(raw, dict) or set(raw) != _PLAUSIBLE_KEYS:
                raise CatalogueError(f"{where}: expected a table with keys {sorted(_PLAUSIBLE_KEYS)}; found {raw!r}")
            try:
                target[q] = PlausibleRange(quantity=q, **raw)
            except CatalogueError as e:
                raise CatalogueError(f"{where}: {e}") from None

    return Catalogue(
        model=model,
        parameters=params,
        pft_priors=pft_priors,
        global_priors=global_priors,
        description=description,
        source=label,
        extends=head.get("extends"),
        references=tuple(parent.references if parent is not None else ()) + tuple(references),
        plausible=plausible,
    )
