"""One stream's likelihood: prediction -> bias -> error model, masked where observations are missing.

:func:`observe` is called inside the NumPyro model (one ``sample`` site per stream, named after the
stream, batch shape of the prediction, e.g. (site, n)); :func:`pointwise_log_likelihood` computes the
same per-point log densities as a pure function, for the ``log_likelihood`` group of an
``InferenceData`` after sampling.

Gaps are handled with :func:`numpyro.handlers.mask` (applied here, locally), the NumPyro way for
NUTS: a masked point contributes exactly 0 to the log density. Whatever value fills a gap in ``obs``
is ignored; a non-finite filler is replaced by the prediction so that no NaN reaches a gradient.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax.numpy as jnp
import numpyro

from bayeslsm.obs.bias import BiasModel
from bayeslsm.obs.errors import ErrorModel

__all__ = ["observe", "pointwise_log_likelihood"]


def _fill_gaps(obs, mask, fill):
    obs = jnp.asarray(obs)
    if mask is None:
        return obs, None
    mask = jnp.asarray(mask, dtype=bool)
    # keep finite fillers as given; a NaN filler would give NaN gradients through the masked branch
    return jnp.where(mask | jnp.isfinite(obs), obs, fill), mask


def observe(
    name: str,
    pred,
    obs,
    mask,
    bias: BiasModel,
    error: ErrorModel,
    bias_params: Mapping[str, Any],
    error_params: Mapping[str, Any],
    doy,
    unc=None,
    lag=None,
):
    """Add one stream's observation site to the NumPyro model.

    Parameters
    ----------
    name
        Stream name; the site is called ``name``.
    pred
        (..., n) model prediction on the observation support (operator output) [stream units].
    obs
        Observations like ``pred``, gaps filled with any finite value; ``None`` to sample them
        (prior / posterior predictive, twin experiments).
    mask
        Boolean like ``pred``, ``True`` where observed; ``None`` if every point is observed.
    bias, error
        The stream's :class:`~bayeslsm.obs.bias.BiasModel` and :class:`~bayeslsm.obs.errors.ErrorModel`.
    bias_params, error_params
        From ``bias.sample(name)`` and ``error.sample(name)``.
    doy
        (n,) day of year of each support point [d] (used by seasonal biases).
    unc
        Optional per-observation uncertainty (sd) like ``pred`` [stream units].
    lag
        ``ar1`` errors: integer lags from :func:`~bayeslsm.obs.errors.ar1_lags` (computed from the
        same ``mask``).

    Returns
    -------
    jax.Array
        The site's value: ``obs`` (gaps possibly re-filled), or a draw when ``obs`` is ``None``.

    Examples
    --------
    >>> import jax.numpy as jnp, numpyro
    >>> from bayeslsm.obs import BiasModel, ErrorModel
    >>> def model(y, m):
    ...     b, e = BiasModel("none"), ErrorModel("gaussian", sigma=1.0)
    ...     observe("NEE", jnp.zeros(3), y, m, b, e, b.sample("NEE"), e.sample("NEE"), jnp.arange(3.0))
    >>> tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(jnp.zeros(3), jnp.array([1, 0, 1], bool))
    >>> tr["NEE"]["is_observed"]
    True
    """
    mu = bias.apply(pred, bias_params, doy)
    d = error.distribution(mu, error_params, unc=unc, lag=lag)
    if obs is None:
        return numpyro.sample(name, d)
    y, mask = _fill_gaps(obs, mask, mu)
    if mask is None:
        return numpyro.sample(name, d, obs=y)
    with numpyro.handlers.mask(mask=mask):
        return numpyro.sample(name, d, obs=y)


def pointwise_log_likelihood(
    pred,
    obs,
    mask,
    bias: BiasModel,
    error: ErrorModel,
    bias_params: Mapping[str, Any],
    error_params: Mapping[str, Any],
    doy,
    unc=None,
    lag=None,
) -> jnp.ndarray:
    """Per-point log density of the observations (pure JAX; 0 at masked points).

    Same arguments as :func:`observe` without ``name``; ``obs`` is required.

    Returns
    -------
    jax.Array
        Like ``pred``: ``log p(obs_i | ...)`` at observed points (for ``ar1`` the conditional density
        given the previous observed point), 0 where ``mask`` is ``False``. Its sum is the stream's
        log-likelihood as seen by NUTS.
    """
    mu = bias.apply(pred, bias_params, doy)
    d = error.distribution(mu, error_params, unc=unc, lag=lag)
    y, mask = _fill_gaps(obs, mask, mu)
    lp = d.log_prob(y)
    if mask is None:
        return lp
    return jnp.where(mask, lp, 0.0)
