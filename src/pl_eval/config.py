"""Validation of config/config.yaml with messages an analyst can act on.

Snakemake's ``validate`` fills defaults but reports a problem as a dump of the schema; this
module runs the same JSON schema first and turns each error into one line naming the key path,
the value and what is allowed: "<key>: <value> is not allowed; expected <what>", or "<key>:
unknown key; did you mean ...?". Beyond the schema it checks what the schema leaves to it:
``analyses`` overrides against the sections they override, keys naming panel columns against
the columns build_panel writes, that a cohort's listed school years are consecutive, and that
every cohort has a folder.
"""

from __future__ import annotations

import difflib
import glob
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pl_eval import io, lazy
from pl_eval.errors import ConfigError, excerpt, os_error_line, quoted

# Only configuration checks use them: a stage that reads its settings from --settings pays
# neither (panel imports pandas and scipy).
jsonschema = lazy.module("jsonschema")
panels = lazy.module("pl_eval.panel")
multiyear = lazy.module("pl_eval.years")

#: Cohorts written by the simulate rule; every other cohort is a folder an evaluator fills.
SIMULATED_COHORTS = ("demo", "national")
#: Config keys whose value is a list of panel columns (or a mapping keyed by them), by section.
COLUMN_KEYS = {
    "match": ("covariates", "exact", "strata", "covariate_calipers"),
    "estimate": ("covariates",),
}
#: The ``estimate.covariates`` entry standing for the match covariates and exact strata.
MATCH_COVARIATES = "match"

#: JSON-schema types in words: (singular without article, plural).
_NOUNS = {
    "string": ("string", "strings"),
    "integer": ("whole number", "whole numbers"),
    "number": ("number", "numbers"),
    "boolean": ("true or false", "true/false values"),
    "array": ("list", "lists"),
    "object": ("mapping", "mappings"),
}
_LONGEST_VALUE = 80  # characters of a value quoted in a message
_LISTED = 20  # folders named when a cohort has none


def config_problems(config: dict, schema: dict) -> list[str]:
    """One readable line per way ``config`` breaks ``schema`` (empty when it is valid)."""
    lines = _schema_problems(config, schema, schema, [])
    lines += multiyear.year_problems(config.get("school_years"))
    analyses = config.get("analyses")
    if isinstance(analyses, Mapping):
        for name, override in analyses.items():
            lines += _override_problems(override, schema, ["analyses", name])
    for section in COLUMN_KEYS:
        lines += column_problems(section, config.get(section), panels.PANEL_COLUMNS)
        for name, override in (analyses if isinstance(analyses, Mapping) else {}).items():
            if isinstance(override, Mapping):
                settings = override.get(section)
                lines += column_problems(
                    section, settings, panels.PANEL_COLUMNS, f"analyses.{name}."
                )
    return list(dict.fromkeys(lines))  # a value breaking two rules is described once


def check_config(config: dict, schema: dict, source: str = "config/config.yaml") -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``."""
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))


def check_workflow_config(
    config: dict,
    schema: dict,
    *,
    raw_root: Path = Path("data/raw"),
    simulated: Sequence[str] = SIMULATED_COHORTS,
    source: str = "config/config.yaml",
) -> None:
    """For the Snakefile: stop with one line per config problem and per cohort without a folder.

    Raises SystemExit, whose message Snakemake prints as it is; any other exception raised while
    the Snakefile loads is printed with "<Error> in file Snakefile, line N" and a traceback.
    """
    lines = [f"{source}: {p}" for p in config_problems(config, schema)]
    cohorts = config.get("cohorts")
    if isinstance(cohorts, list) and all(isinstance(c, str) for c in cohorts):
        lines += cohort_problems(cohorts, Path(raw_root), tuple(simulated))
    if lines:
        raise SystemExit("\n".join(lines))


def check_config_file(path: str | Path) -> None:
    """For the Snakefile, before ``configfile:`` loads ``path``: stop with one line (file, line,
    column) when it cannot be read as YAML; Snakemake's own message names neither. A missing
    file is left to Snakemake (it says so, or --configfile stands in for it)."""
    if not Path(path).exists():
        return
    try:
        io.read_yaml(path)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    except OSError as exc:
        raise SystemExit(os_error_line(exc)) from None


def cohort_problems(
    cohorts: Sequence[str], raw_root: Path, simulated: tuple[str, ...]
) -> list[str]:
    """One line per cohort that is neither simulated nor a folder under ``raw_root``."""
    return [
        f"cohorts: {missing}"
        for name in cohorts
        if (missing := missing_cohort(name, Path(raw_root), simulated)) is not None
    ]


def missing_cohort(name: str, raw_root: Path, simulated: Sequence[str]) -> str | None:
    """Why cohort ``name`` cannot run ("'x' has no folder data/raw/x/; folders there: ...,
    did you mean ...?"), or None when its folder exists or the simulate rule writes it."""
    if name in simulated or _is_folder(raw_root / name):
        return None
    folders = (
        sorted(p.name for p in raw_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if raw_root.is_dir()
        else []
    )
    hint = difflib.get_close_matches(name, sorted({*folders, *simulated}), n=1)
    guess = f" (did you mean {hint[0]!r}?)" if hint else ""
    listed = ", ".join(folders[:_LISTED]) + (
        f" and {len(folders) - _LISTED} more" if len(folders) > _LISTED else ""
    )
    return (
        f"{quoted(name)} has no folder {raw_root.as_posix()}/{excerpt(name)}/; "
        f"folders there: {excerpt(listed, 400) or 'none'}{_filed(name, raw_root) or guess}"
    )


def _filed(name: str, raw_root: Path) -> str:
    """A hint when the cohort's exports sit in a file named after it (a downloaded
    ``2014-2015.zip``, named as the cohort or with the cohort's name before its suffix), not
    in its folder; empty otherwise."""
    if not name:
        return ""
    try:
        files = sorted(
            p.name
            for p in (raw_root / name, *raw_root.glob(f"{glob.escape(name)}.*"))
            if p.is_file()
        )
    except (OSError, ValueError):  # no such folder; a name glob cannot take
        return ""
    if not files:
        return ""
    folder = excerpt(Path(name).stem if files[0] == name else name)
    return (
        f"; {excerpt(files[0])} is a file: make the folder {folder}/ and move it there, with "
        "schools.csv, and run that cohort (ingest reads the exports in a .zip)"
    )


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long for the file system: no such folder
        return False


def column_problems(
    section: str, settings: Any, columns: Sequence[str], prefix: str = ""
) -> list[str]:
    """One line per column named in ``section``'s settings (:data:`COLUMN_KEYS`) that is not
    in ``columns``; ``prefix`` places the section (e.g. "analyses.vcg.")."""
    if not isinstance(settings, Mapping):
        return []
    columns = [str(c) for c in columns]
    lines = []
    for key in COLUMN_KEYS.get(section, ()):
        names = settings.get(key)
        names = list(names) if isinstance(names, Mapping) else names
        for name in names if isinstance(names, list) else []:
            if (section, name) == ("estimate", MATCH_COVARIATES):
                continue
            if isinstance(name, str) and name not in columns:
                hint = difflib.get_close_matches(name, columns, n=1)
                guess = f" did you mean {hint[0]!r}?" if hint else ""
                lines.append(
                    f"{prefix}{section}.{key}: {quoted(name)} is not a panel column;{guess} "
                    f"panel columns: {', '.join(columns)}"
                )
    return lines


def check_columns(section: str, settings: Any, columns: Sequence[str]) -> None:
    """Raise :class:`ConfigError` when ``section``'s settings name a column not in ``columns``
    (the stages' guard for settings passed on the command line, not checked by check_config)."""
    problems = column_problems(section, settings, columns)
    if problems:
        raise ConfigError("\n".join(problems))


def _schema_problems(instance: Any, schema: Any, root: dict, prefix: list) -> list[str]:
    """Lines for every error of ``instance`` against ``schema`` (a part of ``root``), with key
    paths under ``prefix``."""
    validator = jsonschema.validators.validator_for(root)(schema)
    errors = validator.iter_errors(instance)
    lines = [line for error in errors for line in _describe(error, prefix)]
    return sorted(lines + _backwards_ranges(instance, schema, prefix))  # by key path


def _is_range(spec: Mapping) -> bool:
    """A list of exactly two numbers: a [min, max] range (rit_range, se_range)."""
    items = spec.get("items")
    return (
        spec.get("type") == "array"
        and spec.get("minItems") == spec.get("maxItems") == 2
        and isinstance(items, Mapping)
        and items.get("type") in ("number", "integer")
    )


def _backwards_ranges(instance: Any, schema: Any, prefix: list) -> list[str]:
    """Lines for every [min, max] range of ``instance`` given with min > max (JSON schema
    cannot compare two items of a list), found by walking ``schema`` along ``instance``."""
    if not isinstance(schema, Mapping):
        return []
    if _is_range(schema):
        numbers = isinstance(instance, list) and len(instance) == 2
        numbers = numbers and all(_is_number(v) for v in instance)
        if numbers and instance[0] > instance[1]:
            return [
                f"{_path(prefix)}: {_show(instance)} is not allowed; "
                "expected [min, max] with min ≤ max"
            ]
        return []
    lines = []
    if isinstance(instance, Mapping):
        named, others = schema.get("properties", {}), schema.get("additionalProperties")
        for key, value in instance.items():
            lines += _backwards_ranges(value, named.get(key, others), [*prefix, key])
    elif isinstance(instance, list):
        for i, value in enumerate(instance):
            lines += _backwards_ranges(value, schema.get("items"), [*prefix, i])
    return lines


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _override_problems(override: Any, schema: dict, prefix: list) -> list[str]:
    """An ``analyses`` variant's sections, each checked against the section it overrides with
    every key optional (the schema itself only says they are mappings: a ``$ref`` would make
    Snakemake's validate fill every default into the override)."""
    if not isinstance(override, Mapping):
        return []
    sections = schema.get("properties", {})
    lines = []
    for section, values in override.items():
        if section in ANALYSIS_SECTIONS and section in sections and isinstance(values, Mapping):
            part = _optional(sections[section])
            lines += _schema_problems(values, part, schema, [*prefix, section])
    return lines


def _optional(spec: Any) -> Any:
    """``spec`` with no key required anywhere: an override may give any subset of a section."""
    if isinstance(spec, Mapping):
        keep = {k: v for k, v in spec.items() if not (k == "required" and isinstance(v, list))}
        return {k: _optional(v) for k, v in keep.items()}
    if isinstance(spec, list):
        return [_optional(v) for v in spec]
    return spec


def _path(parts: Sequence[Any]) -> str:
    """Key path as written in messages: ``match.vcg.frl_band``, ``analyses.vcg.match``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return excerpt(text, 160) or "(top level)"  # a key is the analyst's text: escaped, cut


def _describe(error: jsonschema.ValidationError, prefix: list) -> list[str]:
    parts = [*prefix, *error.absolute_path]
    path = _path(parts)
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(error.instance, Mapping)
    ):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted({str(k) for k in error.instance} - set(allowed))
        return [f"{_path([*parts, key])}: unknown key; {_suggest(key, allowed)}" for key in unknown]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        properties = error.schema.get("properties", {})
        others = error.schema.get("additionalProperties", {})
        return [
            f"{_path([*parts, key])}: missing; expected {_expected(properties.get(key, others))}"
            for key in error.validator_value
            if key not in error.instance
        ]
    if "propertyNames" in error.relative_schema_path:
        return [
            f"{path}: the name {_show(error.instance)} is not allowed; "
            f"expected {_expected(error.schema)}"
        ]
    return [f"{path}: {_show(error.instance)} is not allowed; expected {_expected(error.schema)}"]


def _suggest(key: str, allowed: Sequence[str]) -> str:
    hint = difflib.get_close_matches(key, allowed, n=1)
    if hint:
        return f"did you mean {hint[0]!r}?"
    return f"allowed: {', '.join(allowed)}" if allowed else "no keys are allowed here"


def _show(value: Any) -> str:
    """A config value as the analyst wrote it in YAML (null, true, 'text', [a, b])."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= _LONGEST_VALUE else text[: _LONGEST_VALUE - 3] + "..."


def _expected(spec: Any, plural: bool = False) -> str:
    """What a schema accepts, in words: "one of 2015, 2020, 2025", "a whole number of 1 or
    more", "a list of 2 numbers", "a number above 0 or null". Written here because jsonschema's
    own messages describe the failed keyword, not the value wanted."""
    if not isinstance(spec, Mapping):
        return "anything" if spec is not False else "nothing"
    if "enum" in spec:
        return ("values among " if plural else "one of ") + ", ".join(map(_show, spec["enum"]))
    if "const" in spec:
        return _show(spec["const"])
    for keyword in ("anyOf", "oneOf"):
        if keyword in spec:
            return " or ".join(_expected(s, plural) for s in spec[keyword])
    types = spec.get("type") or _implied_type(spec)
    types = [types] if isinstance(types, str) else list(types)
    words = [_typed(spec, kind, plural) for kind in types if kind != "null"]
    if not words and "null" not in types:
        words = ["values" if plural else "a value"]
    if "not" in spec:
        words = [f"{w}, other than {_expected(spec['not'])}" for w in words]
    if "null" in types:
        words.append("null")
    return " or ".join(words)


def _implied_type(spec: Mapping) -> list[str]:
    """The type a schema without ``type`` constrains, judged by its keywords."""
    for kind, keywords in (
        ("string", {"pattern", "minLength", "maxLength"}),
        ("number", {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
        ("array", {"items", "minItems", "maxItems", "uniqueItems"}),
        ("object", {"properties", "additionalProperties", "propertyNames"}),
    ):
        if keywords & spec.keys():
            return [kind]
    return []


def _typed(spec: Mapping, kind: str, plural: bool) -> str:
    """One JSON type of ``spec`` with its constraints, in words."""
    singular, many = _NOUNS.get(kind, (kind, f"{kind} values"))
    noun, article = (many, "") if plural else (singular, "a ")
    if kind == "boolean":
        return noun
    if kind in ("integer", "number"):
        return f"{article}{noun}{_bounds(spec)}"
    if kind == "string":
        size = spec.get("minLength", 0)
        adjective = "non-empty " if size == 1 else ""
        longer = f" of {size} or more characters" if size > 1 else ""
        pattern = f" matching {spec['pattern']}" if "pattern" in spec else ""
        return f"{article}{adjective}{noun}{longer}{pattern}"
    if kind == "array":
        low, high = spec.get("minItems", 0), spec.get("maxItems")
        adjective = "non-empty " if low == 1 and high is None else ""
        if high is not None:
            count = f"{high} " if low == high else f"{low} to {high} " if low else f"up to {high} "
        else:
            count = f"{low} or more " if low > 1 else ""
        items = _expected(spec["items"], plural=True) if "items" in spec else "values"
        if spec.get("uniqueItems"):
            items = f"distinct {items}"
        described = "items" in spec or count or spec.get("uniqueItems")
        return f"{article}{adjective}{noun}" + (f" of {count}{items}" if described else "")
    if kind == "object":
        values = spec.get("additionalProperties")
        if isinstance(values, Mapping):
            return f"{article}{noun} of names to {_expected(values, plural=True)}"
        return f"{article}{noun}"
    return f"{article}{noun}"


def _bounds(spec: Mapping) -> str:
    low, high = spec.get("minimum"), spec.get("maximum")
    words = []
    if low is not None and high is not None:
        words.append(f"from {_show(low)} to {_show(high)}")
    elif low is not None:
        words.append(f"of {_show(low)} or more")
    elif high is not None:
        words.append(f"of {_show(high)} or less")
    if "exclusiveMinimum" in spec:
        words.append(f"above {_show(spec['exclusiveMinimum'])}")
    if "exclusiveMaximum" in spec:
        words.append(f"below {_show(spec['exclusiveMaximum'])}")
    return f" {' and '.join(words)}" if words else ""


#: Config sections an ``analyses`` variant may override; the first two change the panel itself.
ANALYSIS_SECTIONS = ("ingest", "panel", "match", "estimate")


def analysis_section(config: dict, analysis: str, section: str) -> dict:
    """Section ``section`` as analysis ``analysis`` runs it: the top-level section with the
    analysis's overrides merged in, key by key (a list or a scalar replaces the whole value);
    ``estimate.covariates`` with "match" spelt out (:func:`resolved_estimate`)."""
    merged = _merged(config.get(section, {}), config["analyses"][analysis].get(section, {}))
    if section == "estimate":
        return resolved_estimate(merged, analysis_section(config, analysis, "match"))
    return merged


def resolved_estimate(estimate: dict, match: dict) -> dict:
    """The ``estimate`` section with the "match" entry of its covariates replaced by the match
    section's covariates and exact columns, in that order and each once."""
    covariates = estimate.get("covariates", [MATCH_COVARIATES])
    if MATCH_COVARIATES not in covariates:
        return estimate
    expanded = []
    for name in covariates:  # a handful of names
        expanded += (
            [*match.get("covariates", []), *match.get("exact", [])]
            if name == MATCH_COVARIATES
            else [name]
        )
    return estimate | {"covariates": list(dict.fromkeys(expanded))}


def _merged(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merged(base[key], value)
        else:
            merged[key] = value
    return merged
