"""NumPyro site names of the calibration model, made in one place.

The NumPyro model (:meth:`bayeslsm.infer.Calibration.numpyro_model`) names its sites after catalogue
parameters and observation streams.  Code that needs a site name builds it here instead of joining or
splitting strings itself; the rules:

==============================  ==========================================  ==========================
site                            what                                        in InferenceData
==============================  ==========================================  ==========================
``_z_{p}``                      unconstrained value of parameter ``p``      (internal)
``_eps_{p}``, ``_eps_{p}_pft``  non-centred standard-normal latents         (internal)
``{p}``                         ``p`` in physical units (deterministic)     posterior / prior
``{p}_pft``                     PFT-level value (deterministic)             posterior / prior
``{p}_mu``, ``{p}_sd_pft``,     hyper-parameters (unconstrained units)      posterior / prior
``{p}_sd_site``
``{p}_coef``                    covariate regression coefficients           posterior / prior
``{stream}``                    observed (or replicated) stream             observed_data, predictive
``_{stream}_model``             noise-free biased prediction (recorded)     ``{stream}_model``
                                                                            (:func:`model_var`)
``_{stream}_loglik``            pointwise log-likelihood (recorded)         log_likelihood
``{variable}_daily``            daily model trajectory (recorded)           predictive groups
==============================  ==========================================  ==========================

Sites whose name starts with ``_`` are internal: they never appear as InferenceData variables.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "INTERNAL_PREFIX",
    "coef",
    "coef_parameter",
    "daily",
    "eps",
    "eps_pft",
    "hyper",
    "is_daily",
    "is_internal",
    "is_latent",
    "latent",
    "latent_parameter",
    "model_var",
    "parse",
    "pft_parameter",
    "pft_value",
    "stream_loglik",
    "stream_model",
]

INTERNAL_PREFIX = "_"
_LATENT = "_z_"


def latent(param: str) -> str:
    """Sample site of parameter ``param`` in unconstrained units."""
    return f"{_LATENT}{param}"


def latent_parameter(site: str) -> str | None:
    """The parameter a latent site (:func:`latent`) belongs to, or ``None`` for any other site."""
    return site[len(_LATENT):] if site.startswith(_LATENT) else None


def is_latent(site: str) -> bool:
    """Whether ``site`` is a sampled latent (:func:`latent`, :func:`eps`, :func:`eps_pft`)."""
    return site.startswith((_LATENT, "_eps_"))


def eps(param: str) -> str:
    """Non-centred standard-normal site-level latent of ``param``."""
    return f"_eps_{param}"


def eps_pft(param: str) -> str:
    """Non-centred standard-normal PFT-level latent of ``param``."""
    return f"_eps_{param}_pft"


def pft_value(param: str) -> str:
    """Deterministic PFT-level value of ``param`` (physical units, dim ``pft``)."""
    return f"{param}_pft"


def pft_parameter(site: str) -> str | None:
    """The parameter a PFT-level site (:func:`pft_value`) belongs to, or ``None`` for any other name."""
    return site[: -len("_pft")] if site.endswith("_pft") and not site.startswith(INTERNAL_PREFIX) else None


def coef(param: str) -> str:
    """Covariate regression coefficients of ``param`` (dim ``covariate``)."""
    return f"{param}_coef"


def coef_parameter(site: str) -> str | None:
    """The parameter a coefficient site (:func:`coef`) belongs to, or ``None`` for any other name."""
    return site[: -len("_coef")] if site.endswith("_coef") else None


def hyper(param: str, which: str) -> str:
    """Hyper-parameter site of ``param``: ``which`` in ``{"mu", "sd_pft", "sd_site"}``."""
    if which not in ("mu", "sd_pft", "sd_site"):
        raise ValueError(f"`which` must be 'mu', 'sd_pft' or 'sd_site'; got {which!r}")
    return f"{param}_{which}"


def stream_model(stream: str) -> str:
    """Recorded noise-free biased prediction of ``stream``."""
    return f"_{stream}_model"


def stream_loglik(stream: str) -> str:
    """Recorded pointwise log-likelihood of ``stream``."""
    return f"_{stream}_loglik"


def model_var(stream: str) -> str:
    """InferenceData variable of the noise-free prediction of ``stream`` (the recorded
    :func:`stream_model` site, made public)."""
    return f"{stream}_model"


def annual(variable: str) -> str:
    """Annual sums of daily model output ``variable`` (:func:`bayeslsm.infer.predict.predict`)."""
    return f"{variable}_annual"


def annual_variable(name: str) -> str | None:
    """The model output an annual-sum variable (:func:`annual`) belongs to, or ``None`` for any other name."""
    return name[: -len("_annual")] if name.endswith("_annual") else None


def daily(variable: str) -> str:
    """Recorded daily trajectory of model output ``variable``."""
    return f"{variable}_daily"


def is_daily(site: str) -> bool:
    """Whether ``site`` is a daily trajectory (:func:`daily`)."""
    return site.endswith("_daily")


def is_internal(site: str) -> bool:
    """Whether ``site`` is internal (never an InferenceData variable)."""
    return site.startswith(INTERNAL_PREFIX)


class Parsed(NamedTuple):
    """What :func:`parse` finds in a site name: the parameter (or stream) and the site's role."""

    param: str
    role: str  # value, latent, latent_pft, eps, eps_pft, pft, mu, sd_pft, sd_site, coef


def parse(site: str) -> Parsed:
    """Split a site name made by this module into its parameter and role (the inverse of the makers).

    >>> parse("_eps_ceff_pft"), parse("ceff_sd_site"), parse("_z_clma")
    (Parsed(param='ceff', role='eps_pft'), Parsed(param='ceff', role='sd_site'), Parsed(param='clma', role='latent'))
    """
    if site.startswith(_LATENT):
        rest = site[len(_LATENT):]
        return Parsed(rest[: -len("_pft")], "latent_pft") if rest.endswith("_pft") else Parsed(rest, "latent")
    if site.startswith("_eps_"):
        rest = site[len("_eps_"):]
        return Parsed(rest[: -len("_pft")], "eps_pft") if rest.endswith("_pft") else Parsed(rest, "eps")
    for which in ("sd_site", "sd_pft", "mu"):
        if site.endswith(f"_{which}"):
            return Parsed(site[: -len(which) - 1], which)
    if coef_parameter(site):
        return Parsed(coef_parameter(site), "coef")
    if pft_parameter(site):
        return Parsed(pft_parameter(site), "pft")
    return Parsed(site, "value")
