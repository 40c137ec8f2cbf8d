"""Validation of config/config.yaml with messages an analyst can act on.

Snakemake's ``validate`` fills defaults but reports a problem as a dump of the schema; this
module runs the same JSON schema first and turns each error into one line naming the key
path, the value and what is allowed (with a "did you mean" for misspelt keys).
"""

from __future__ import annotations

import difflib
from typing import Any

import jsonschema

from pl_eval.errors import ConfigError


def config_problems(config: dict, schema: dict) -> list[str]:
    """One readable line per way ``config`` breaks ``schema`` (empty when it is valid)."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    return [line for error in errors for line in _describe(error)]


def check_config(config: dict, schema: dict, source: str = "config/config.yaml") -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``."""
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))


def _path(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> list[str]:
    path = _path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        lines = []
        for key in sorted(set(error.instance) - set(allowed)):
            where = f"{path}.{key}" if error.absolute_path else key
            hint = difflib.get_close_matches(key, allowed, n=1)
            guess = f"; did you mean {hint[0]!r}?" if hint else ""
            lines.append(f"{where}: unknown key{guess} (allowed: {', '.join(allowed)})")
        return lines
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return [f"{path}: {error.instance!r} is not allowed (allowed: {allowed})"]
    if error.validator == "required":
        return [f"{path}: {error.message}"]
    expected = error.schema.get("description", "").rstrip(".")
    detail = f" — {expected}" if expected else ""
    return [f"{path}: {error.message}{detail}"]
