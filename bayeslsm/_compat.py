"""Imports of optional-behaviour libraries, with their import-time chatter handled in one place."""

from __future__ import annotations

import warnings


def import_arviz():
    """Import ArviZ 0.x, silencing its import-time FutureWarning about the 1.0 refactor.

    bayeslsm targets the ``InferenceData`` API of ArviZ 0.x (pinned ``<1`` in pyproject.toml).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ArviZ is undergoing a major refactor.*", category=FutureWarning)
        import arviz as az
    return az
