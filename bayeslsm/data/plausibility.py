"""Plausibility of daily values against the registry's ranges (:data:`bayeslsm.data.variables.PLAUSIBLE`).

A unit mistake scales a whole record by one factor (SW_IN in MJ m-2 d-1 read as W m-2 is 11.6 times too
small; VPD in kPa read as hPa 10 times; precipitation in m read as mm 1000 times), so the readers check,
in registry units after their conversion, every value against physical limits and, for a record of at
least a year, its largest value (the seasonal maximum) and its mean against ranges taken from many sites.

Examples
--------
>>> import numpy as np
>>> problem = implausible(np.full(400, 350.0), "swrad")  # W m-2 where MJ m-2 d-1 is expected
>>> problem.statistic, round(problem.value, 1)
('value', 350.0)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayeslsm.data.variables import PLAUSIBLE, variable

__all__ = ["MIN_DAYS_FOR_STATISTICS", "Implausible", "OutOfBoundsWarning", "implausible"]

MIN_DAYS_FOR_STATISTICS = 365
"""A record must span this many days (and have 300 finite values) for the seasonal max and mean checks."""


class Implausible(NamedTuple):
    """A failed check: which statistic, its value, the plausible range, the index of a value (or None)."""

    statistic: str
    value: float
    lo: float | None
    hi: float | None
    index: int | None
    message: str


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:.4g}"


def implausible(values: np.ndarray, name: str, *, scale: float = 1.0,
                file_units: str | None = None) -> Implausible | None:
    """The first failed plausibility check of daily ``values`` of variable ``name``, or ``None``.

    Parameters
    ----------
    values
        Daily values in registry units (NaN = missing).
    name
        Registry name (``"swrad"``, ``"vpd"``, ``"precip"``, ``"LE"``...); names without a range pass.
    scale
        Factor from the file's units to registry units, so that messages quote the file's numbers.
    file_units
        The units of the file's column, named in messages (default: the registry's).

    Returns
    -------
    Implausible or None
        ``message`` says what was expected and found, in the file's units, and where the range comes from.
    """
    rng = PLAUSIBLE.get(name)
    if rng is None:
        return None
    v = np.asarray(values, dtype=float)
    units = variable(name).units
    fu = file_units or units
    ok = np.isfinite(v)
    if not ok.any():
        return None

    def out(stat, x, lo, hi, index):
        what = {"value": "a daily value", "max": f"the largest of {int(ok.sum())} daily values (seasonal maximum)",
                "mean": f"the mean of {int(ok.sum())} daily values"}[stat]
        lo_f = None if lo is None else lo / scale
        hi_f = None if hi is None else hi / scale
        msg = (f"implausible {name}: {what} is {x / scale:.4g} {fu}; expected within [{_fmt(lo_f)}, {_fmt(hi_f)}] {fu}"
               f" (a unit mistake? {rng.source})")
        return Implausible(stat, float(x), lo, hi, index, msg)

    bad = np.zeros(v.shape, bool)
    if rng.lower is not None:
        bad |= ok & (v < rng.lower)
    if rng.upper is not None:
        bad |= ok & (v > rng.upper)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return out("value", v[i], rng.lower, rng.upper, i)
    if v.size >= MIN_DAYS_FOR_STATISTICS and ok.sum() >= 300:
        for stat, bounds, x in (("max", rng.annual_max, np.max(v[ok])), ("mean", rng.annual_mean, np.mean(v[ok]))):
            if bounds is not None and not bounds[0] <= x <= bounds[1]:
                return out(stat, x, bounds[0], bounds[1], None)
    return None


class OutOfBoundsWarning(UserWarning):
    """A value outside its plausible or catalogue range, accepted because the user allowed it
    (``--allow-out-of-bounds``, ``allow_out_of_bounds=True``)."""
