"""Observation operators: daily model output -> the support (time footprint) of each observation.

An observation operator is built once, on concrete dates (numpy, at build time), into an
:class:`OperatorIndex` of plain integer/float arrays; applying it (:func:`apply_operator`) is a
single :func:`jax.ops.segment_sum`, linear, jittable and differentiable.

Supports
--------
``"daily"``
    One model day per observation (fluxes, daily means).
``"instant"``
    The model state on the observation's day (end of day), e.g. biomass or soil-carbon stocks on
    sparse inventory dates. Mechanically the same as ``"daily"``; the name says what is compared.
``"<n>D"`` (e.g. ``"8D"``, ``"16D"``)
    n-day composites. An observation stamped ``t`` covers the days ``[t, t + n)``.
``"<n>D-year"``
    n-day composites that restart on 1 January of every year, as the MODIS 8-day products
    (MOD15A2H LAI, MOD17A2H GPP) do: the composite stamped ``t`` covers ``[t, min(t + n, 1 Jan))``,
    so the last one of a year has 5 or 6 days.
``"monthly"``, ``"annual"``
    The calendar month / year whose **first day** is the time stamp (any other day is an error).

Aggregation ``how`` is ``"mean"`` (e.g. LAI, mean flux [gC m-2 d-1]) or ``"sum"`` (e.g. a monthly
total [gC m-2 month-1]). For ``"daily"`` and ``"instant"`` both give the day's value.

Every observation period must lie fully inside the model period, and periods may not overlap
(:class:`ObservationSupportError` otherwise, naming the stream and the dates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayeslsm.obs._exceptions import ConfigurationError

__all__ = [
    "AGGREGATIONS",
    "ObservationSupportError",
    "OperatorIndex",
    "Support",
    "apply_operator",
    "build_operator",
    "parse_support",
    "support_grid",
]

AGGREGATIONS = ("mean", "sum")
_ONE_DAY = np.timedelta64(1, "D")
_NDAYS = re.compile(r"^(\d+)\s*[dD](-year)?$")


class ObservationSupportError(ValueError):
    """Observation time stamps that do not fit the model period or the support's conventions."""


@dataclass(frozen=True)
class Support:
    """The time footprint of an observation.

    Parameters
    ----------
    kind
        ``"daily"``, ``"instant"``, ``"ndays"``, ``"monthly"`` or ``"annual"``.
    n_days
        Length of an n-day composite [d] (``kind="ndays"`` only; 1 otherwise).
    year_reset
        n-day composites restart on 1 January (``"<n>D-year"``).

    Examples
    --------
    >>> str(Support.parse("8D")), Support.parse("8D").n_days
    ('8D', 8)
    """

    kind: str
    n_days: int = 1
    year_reset: bool = False

    @classmethod
    def parse(cls, text: "str | Support") -> "Support":
        """Parse a support string (see the module docstring); raise ``ConfigurationError`` if unknown."""
        if isinstance(text, Support):
            return text
        if not isinstance(text, str):
            raise ConfigurationError(f"support must be a string such as 'daily' or '8D'; got {text!r}")
        s = text.strip()
        low = s.lower()
        if low in ("daily", "instant", "monthly", "annual"):
            return cls(low)
        m = _NDAYS.match(s)
        if m:
            n = int(m.group(1))
            year = m.group(2) is not None
            if n < 1:
                raise ConfigurationError(f"support {text!r}: an n-day composite needs n >= 1")
            if n == 1:
                return cls("daily")
            return cls("ndays", n, year)
        raise ConfigurationError(
            f"unknown support {text!r}; expected 'daily', 'instant', 'monthly', 'annual', '<n>D' (e.g. '8D') "
            f"or '<n>D-year' (MODIS-style composites restarting on 1 January)"
        )

    def __str__(self) -> str:
        if self.kind == "ndays":
            return f"{self.n_days}D" + ("-year" if self.year_reset else "")
        return self.kind

    def describe(self) -> str:
        """The convention for a time stamp ``t``, in words (used in error messages)."""
        if self.kind in ("daily", "instant"):
            return "an observation stamped t covers the model day t"
        if self.kind == "ndays":
            extra = ", truncated at 31 December" if self.year_reset else ""
            return f"an observation stamped t covers the days [t, t+{self.n_days}){extra}"
        if self.kind == "monthly":
            return "an observation stamped t covers the calendar month starting on t (t must be the 1st)"
        return "an observation stamped t covers the calendar year starting on t (t must be 1 January)"


def parse_support(text: "str | Support") -> Support:
    """Parse a support string; see :meth:`Support.parse`."""
    return Support.parse(text)


class OperatorIndex(NamedTuple):
    """Build-time description of an observation operator (numpy arrays only).

    Attributes
    ----------
    segment_ids
        (T,) int: observation slot of each model day, or ``n_obs`` (a dump slot) for days no
        observation covers.
    counts
        (n_obs,) int: number of model days in each observation period [d].
    divisor
        (n_obs,) float: ``counts`` for ``how="mean"``, 1 for ``how="sum"``.
    start, stop
        (n_obs,) int: each period is ``model_time[start:stop]``.
    """

    segment_ids: np.ndarray
    counts: np.ndarray
    divisor: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    @property
    def n_obs(self) -> int:
        return int(self.counts.shape[0])


def _as_days(x, what: str) -> np.ndarray:
    try:
        t = np.asarray(x).astype("datetime64[D]")
    except (TypeError, ValueError) as e:
        raise ValueError(f"`{what}` must be convertible to datetime64[D]; got dtype {np.asarray(x).dtype}") from e
    if t.ndim != 1:
        raise ValueError(f"`{what}` must be 1-D; got shape {t.shape}")
    if np.isnat(t).any():
        raise ValueError(f"`{what}` contains NaT at positions {np.nonzero(np.isnat(t))[0][:5].tolist()}")
    return t


def _fmt_dates(dates, limit: int = 5) -> str:
    dates = [str(d) for d in dates]
    more = f" and {len(dates) - limit} more" if len(dates) > limit else ""
    return ", ".join(dates[:limit]) + more


def _period_ends(sup: Support, t: np.ndarray, where: str) -> np.ndarray:
    """Exclusive end date of each observation period; checks calendar alignment."""
    if sup.kind in ("daily", "instant"):
        return t + _ONE_DAY
    if sup.kind == "ndays":
        stop = t + np.timedelta64(sup.n_days, "D")
        if sup.year_reset:
            next_year = (t.astype("datetime64[Y]") + 1).astype("datetime64[D]")
            stop = np.minimum(stop, next_year)
        return stop
    unit = "M" if sup.kind == "monthly" else "Y"
    first = t.astype(f"datetime64[{unit}]").astype("datetime64[D]")
    bad = t != first
    if bad.any():
        what = "first day of a month" if unit == "M" else "1 January"
        raise ObservationSupportError(
            f"{where}: {int(bad.sum())} time stamp(s) of support {str(sup)!r} are not the {what}: "
            f"{_fmt_dates(t[bad])}; {sup.describe()}. Stamp each value with the first day of its period "
            f"(e.g. pandas resample(...{'MS' if unit == 'M' else 'YS'}) labels)"
        )
    return (t.astype(f"datetime64[{unit}]") + 1).astype("datetime64[D]")


def build_operator(
    support: "str | Support",
    how: str,
    model_time: np.ndarray,
    obs_time: np.ndarray,
    *,
    name: str | None = None,
) -> OperatorIndex:
    """Build the operator that maps daily model output onto the observations' time support.

    Parameters
    ----------
    support
        Support string or :class:`Support` (see the module docstring).
    how
        ``"mean"`` or ``"sum"`` over the days of each period.
    model_time
        (T,) consecutive model days, ``datetime64[D]`` (or convertible).
    obs_time
        (n_obs,) observation time stamps, strictly increasing; for n-day, monthly and annual
        supports the **first** day of each period.
    name
        Stream name used in error messages.

    Returns
    -------
    OperatorIndex

    Raises
    ------
    ObservationSupportError
        If ``obs_time`` is not strictly increasing, a monthly/annual stamp is not the first day of
        its period, periods overlap, or a period is not fully inside ``model_time``.
    ConfigurationError
        For an unknown ``support`` or ``how``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange("2001-01-01", "2001-03-01", dtype="datetime64[D]")
    >>> idx = build_operator("monthly", "mean", t, np.array(["2001-01-01", "2001-02-01"], dtype="datetime64[D]"))
    >>> idx.counts.tolist()
    [31, 28]
    """
    where = f"stream {name!r}" if name is not None else "observations"
    sup = Support.parse(support)
    if how not in AGGREGATIONS:
        raise ConfigurationError(f"{where}: `how` must be one of {AGGREGATIONS}; got {how!r}")
    mt = _as_days(model_time, "model_time")
    if mt.size == 0:
        raise ValueError("`model_time` is empty")
    steps = np.diff(mt)
    if (steps != _ONE_DAY).any():
        i = int(np.nonzero(steps != _ONE_DAY)[0][0])
        raise ValueError(
            f"`model_time` must be consecutive days; found {mt[i]} followed by {mt[i + 1]} (position {i})"
        )
    ot = _as_days(obs_time, "obs_time")
    if ot.size > 1:
        back = np.nonzero(np.diff(ot) <= np.timedelta64(0, "D"))[0]
        if back.size:
            raise ObservationSupportError(
                f"{where}: observation time stamps must be sorted and unique; found "
                + _fmt_dates(f"{ot[i]} followed by {ot[i + 1]}" for i in back)
                + ". Sort them and merge duplicates before building the operator"
            )
    stop = _period_ends(sup, ot, where)
    t0, t_end = mt[0], mt[-1] + _ONE_DAY
    outside = (ot < t0) | (stop > t_end)
    if outside.any():
        periods = [f"{a} (covers {a} .. {b - _ONE_DAY})" for a, b in zip(ot[outside], stop[outside])]
        raise ObservationSupportError(
            f"{where}: {int(outside.sum())} observation period(s) of support {str(sup)!r} are not fully inside "
            f"the model period {t0} .. {mt[-1]}: {_fmt_dates(periods)}; {sup.describe()}. "
            f"Drop these observations or extend the forcing"
        )
    if ot.size > 1:
        overlap = np.nonzero(ot[1:] < stop[:-1])[0]
        if overlap.size:
            pairs = [f"{ot[i]} (to {stop[i] - _ONE_DAY}) and {ot[i + 1]}" for i in overlap]
            raise ObservationSupportError(
                f"{where}: observation periods of support {str(sup)!r} overlap: {_fmt_dates(pairs)}; "
                f"{sup.describe()}. Check the support (e.g. '8D-year' for MODIS composites) or thin the series"
            )
    n = ot.size
    start_i = (ot - t0).astype(np.int64)
    stop_i = (stop - t0).astype(np.int64)
    counts = stop_i - start_i
    seg = np.full(mt.size, n, dtype=np.int64)
    if n:
        slot = np.repeat(np.arange(n, dtype=np.int64), counts)
        offset = np.arange(slot.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        seg[start_i[slot] + offset] = slot
    divisor = counts.astype(np.float64) if how == "mean" else np.ones(n, dtype=np.float64)
    return OperatorIndex(seg, counts, divisor, start_i, stop_i)


def apply_operator(index: OperatorIndex, daily_values) -> jnp.ndarray:
    """Aggregate daily values onto the observation support.

    Parameters
    ----------
    index
        From :func:`build_operator`.
    daily_values
        (..., T) daily model output, time on the **last** axis (e.g. (T,) or (site, T)).

    Returns
    -------
    jax.Array
        (..., n_obs): the mean or sum over each observation period. Linear in ``daily_values``
        (differentiable; jittable with ``index`` closed over or passed as a pytree).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange("2001-01-01", "2001-01-17", dtype="datetime64[D]")
    >>> idx = build_operator("8D", "mean", t, t[[0, 8]])
    >>> apply_operator(idx, np.arange(16.0)).tolist()
    [3.5, 11.5]
    """
    x = jnp.asarray(daily_values)
    seg = jnp.asarray(index.segment_ids)
    n = index.counts.shape[0]  # static even when `index` is traced
    if x.ndim == 0 or x.shape[-1] != seg.shape[0]:
        raise ValueError(
            f"`daily_values` must have the model's {seg.shape[0]} days on its last axis; got shape {x.shape}"
        )
    xt = jnp.moveaxis(x, -1, 0)
    sums = jax.ops.segment_sum(xt, seg, num_segments=n + 1)[:n]
    div = jnp.asarray(index.divisor, dtype=sums.dtype).reshape((n,) + (1,) * (xt.ndim - 1))
    return jnp.moveaxis(sums / div, 0, -1)


def support_grid(support: "str | Support", model_time: np.ndarray) -> np.ndarray:
    """Time stamps of every complete observation period inside ``model_time``.

    Used where there are no observations to take the stamps from (prior predictive runs, twin
    experiments).

    Parameters
    ----------
    support
        Support string or :class:`Support`.
    model_time
        (T,) consecutive model days.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]`` period starts, sorted; :func:`build_operator` accepts them.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange("2001-01-15", "2001-04-01", dtype="datetime64[D]")
    >>> support_grid("monthly", t).tolist()
    [datetime.date(2001, 2, 1), datetime.date(2001, 3, 1)]
    """
    sup = Support.parse(support)
    t = _as_days(model_time, "model_time")
    if t.size == 0:
        return t
    if sup.kind in ("daily", "instant"):
        return t.copy()
    if sup.kind == "ndays" and not sup.year_reset:
        starts = t[:: sup.n_days]
    elif sup.kind == "ndays":
        years = np.arange(t[0].astype("datetime64[Y]"), t[-1].astype("datetime64[Y]") + 1)
        starts = np.concatenate([
            np.arange(y.astype("datetime64[D]"), (y + 1).astype("datetime64[D]"), sup.n_days, dtype="datetime64[D]")
            for y in years
        ])
    else:
        unit = "M" if sup.kind == "monthly" else "Y"
        starts = np.arange(t[0].astype(f"datetime64[{unit}]"), t[-1].astype(f"datetime64[{unit}]") + 1)
        starts = starts.astype("datetime64[D]")
    stop = _period_ends(sup, starts, "support_grid")
    keep = (starts >= t[0]) & (stop <= t[-1] + _ONE_DAY)
    return starts[keep]
