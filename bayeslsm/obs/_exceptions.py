"""Exceptions of the observation layer (one home, so bias, error and config modules share them)."""

from __future__ import annotations

__all__ = ["ConfigurationError"]


class ConfigurationError(ValueError):
    """An observation-stream configuration that cannot work.

    The message names the stream and the key (e.g. ``stream 'NEE': error.sigma.scale``), what was
    expected and what was found.
    """
