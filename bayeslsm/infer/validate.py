"""Checks of a calibration's inputs that need the model: a starting point where the model is not finite."""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

__all__ = ["InitialPointError", "checked_start"]

_NUMPYRO_INIT_FAILURE = "Cannot find valid initial parameters"


class InitialPointError(ValueError):
    """NUTS found no starting point where the log density (the model's outputs) is finite."""


def checked_start(run: Callable[..., Any], init_values: Mapping[str, float] | None = None) -> Callable[..., Any]:
    """Wrap ``MCMC.run`` so that NumPyro's failure to find a finite starting point is an :class:`InitialPointError`
    naming the starting point (NumPyro raises a bare ``RuntimeError`` after trying up to 100 points).

    Parameters
    ----------
    run
        ``mcmc.run``.
    init_values
        The user's starting values (``None``: NumPyro's ``init_to_median`` of the priors).

    Examples
    --------
    >>> mcmc.run = checked_start(mcmc.run, init_values)  # doctest: +SKIP
    """

    @functools.wraps(run)
    def wrapped(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        except RuntimeError as err:
            if _NUMPYRO_INIT_FAILURE not in str(err):
                raise
            start = (f"the given init_values {dict(init_values)}" if init_values
                     else "the prior medians (init_to_median) and 100 random points around them")
            raise InitialPointError(
                f"starting point: the model's log density is not finite at {start}; expected finite model outputs "
                f"(check fixed parameters, initial pools > 0 and forcing for values that make the model NaN or inf)"
            ) from None

    return wrapped
