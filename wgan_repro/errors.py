"""The package's errors: each is reported as one line (the CLI prints it and exits 2)."""
from __future__ import annotations

import typing


class WganReproError(Exception):
    """Base of every error this package reports as one line (the CLI prints it and exits 2)."""


class ConfigError(WganReproError, ValueError):
    """A bad configuration value. The message is one line: field, value, what is allowed."""


def fail(name: str, value, allowed: str) -> typing.NoReturn:
    """Raise the one-line ConfigError: `name=value is not allowed: allowed`."""
    raise ConfigError(f"{name}={value!r} is not allowed: {allowed}")


__all__ = ["ConfigError", "WganReproError", "fail"]
