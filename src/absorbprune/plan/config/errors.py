"""The config's one error type (light: every config module and the Snakefile raise or catch it)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """The config is invalid; the message names every offending key and what is expected."""
