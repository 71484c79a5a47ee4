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
``{stream}``                    observed (or replicated) stream             observed_data, predictive
``_{stream}_model``             noise-free biased prediction (recorded)     ``{stream}_model``
``_{stream}_loglik``            pointwise log-likelihood (recorded)         log_likelihood
``{variable}_daily``            daily model trajectory (recorded)           predictive groups
==============================  ==========================================  ==========================

Sites whose name starts with ``_`` are internal: they never appear as InferenceData variables.
"""

from __future__ import annotations

__all__ = [
    "INTERNAL_PREFIX",
    "daily",
    "eps",
    "eps_pft",
    "hyper",
    "is_internal",
    "latent",
    "latent_parameter",
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


def eps(param: str) -> str:
    """Non-centred standard-normal site-level latent of ``param``."""
    return f"_eps_{param}"


def eps_pft(param: str) -> str:
    """Non-centred standard-normal PFT-level latent of ``param``."""
    return f"_eps_{param}_pft"


def pft_value(param: str) -> str:
    """Deterministic PFT-level value of ``param`` (physical units, dim ``pft``)."""
    return f"{param}_pft"


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


def daily(variable: str) -> str:
    """Recorded daily trajectory of model output ``variable``."""
    return f"{variable}_daily"


def is_internal(site: str) -> bool:
    """Whether ``site`` is internal (never an InferenceData variable)."""
    return site.startswith(INTERNAL_PREFIX)
