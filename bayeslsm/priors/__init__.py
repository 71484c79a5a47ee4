"""Parameter catalogues (``models/*.toml``), PFT prior tables and DALEC's ecological constraints."""

from bayeslsm.priors.catalogue import (
    DISTRIBUTIONS,
    KINDS,
    PLAUSIBLE_QUANTITIES,
    TRANSFORMS,
    Catalogue,
    CatalogueError,
    ParameterSpec,
    PlausibleRange,
    PriorSpec,
    available_catalogues,
    load_catalogue,
)

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
