"""Parameter catalogues (``models/*.toml``), PFT prior tables and DALEC's ecological constraints."""

from bayeslsm.priors.catalogue import (
    DISTRIBUTIONS,
    KINDS,
    TRANSFORMS,
    Catalogue,
    CatalogueError,
    ParameterSpec,
    PriorSpec,
    available_catalogues,
    load_catalogue,
)

__all__ = [
    "DISTRIBUTIONS",
    "KINDS",
    "TRANSFORMS",
    "Catalogue",
    "CatalogueError",
    "ParameterSpec",
    "PriorSpec",
    "available_catalogues",
    "load_catalogue",
]
