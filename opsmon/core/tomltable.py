"""A TOML table read key by key, for scenario files (opsmon/training/scenario.py):
every key must be known and every value right, or a ConfigError names it.

config.toml is not read this way: it decodes into msgspec Structs (opsmon/core/config.py).
"""

from __future__ import annotations

import re
from typing import Any

from opsmon.core.config import ConfigError
from opsmon.core.text import describe, forbidden_characters


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class Table:
    """A TOML table being read: every key must be known and every value right."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a table, not {_type_name(data)}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, default: object, required: bool) -> object:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self._key(key)}: missing")
            return default
        return self.data[key]

    def text(self, key: str, default: str = "", *, required: bool = True, pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, default, required)
        if not isinstance(value, str):
            raise ConfigError(f"{self._key(key)}: must be a string, not {_type_name(value)}")
        hostile = forbidden_characters(value)
        if hostile:
            # Names and labels reach every officer's terminal through the welcome.
            raise ConfigError(f"{self._key(key)}: holds control characters ({', '.join(describe(c) for c in hostile)}); only printable text is allowed")
        if required and not value.strip():
            raise ConfigError(f"{self._key(key)}: must not be empty")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{self._key(key)}: {value!r} does not match {pattern.pattern}")
        if choices and value not in choices:
            raise ConfigError(f"{self._key(key)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, key: str, default: int = 0, *, required: bool = True, minimum: int | None = 0, maximum: int | None = None) -> int:
        value = self._get(key, default, required)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self._key(key)}: must be an integer, not {_type_name(value)}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self._key(key)}: must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self._key(key)}: must be at most {maximum}, not {value}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0, exclusive: bool = True) -> float:
        value = self._get(key, default, False)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self._key(key)}: must be a number, not {_type_name(value)}")
        if (value <= minimum) if exclusive else (value < minimum):
            raise ConfigError(f"{self._key(key)}: must be {'above' if exclusive else 'at least'} {minimum}, not {value}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._key(key)}: must be true or false, not {_type_name(value)}")
        return value

    def table(self, key: str) -> Table:
        return Table(self._get(key, {}, False), self._key(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key")
