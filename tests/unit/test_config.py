"""The shipped config is valid; misspelt keys and bad values give one line naming the key."""

import copy

import pytest

from pl_eval import io
from pl_eval.config import check_config, config_problems
from pl_eval.errors import ConfigError

SCHEMA = io.read_yaml("config/schema.yaml")
CONFIG = io.read_yaml("config/config.yaml")


def test_shipped_config_is_valid():
    assert config_problems(CONFIG, SCHEMA) == []


def test_misspelt_nested_key_names_its_path_and_suggests():
    config = copy.deepcopy(CONFIG)
    config["ingest"]["screnes"] = {}
    assert config_problems(config, SCHEMA) == [
        "ingest.screnes: unknown key; did you mean 'screens'? (allowed: column_aliases, screens)"
    ]


def test_unknown_top_level_key():
    (line,) = config_problems({**CONFIG, "cohorts": ["a"]}, SCHEMA)
    assert line.startswith("cohorts: unknown key; did you mean 'cohort'?")


def test_bad_values_name_key_value_and_allowed():
    config = copy.deepcopy(CONFIG)
    config["panel"]["norms_year"] = 2019
    config["school_year"] = "2022"
    problems = config_problems(config, SCHEMA)
    assert "panel.norms_year: 2019 is not allowed (allowed: 2015, 2020, 2025)" in problems
    assert any(p.startswith("school_year: '2022' does not match") for p in problems)
    with pytest.raises(ConfigError, match=r"^config/config.yaml: panel.norms_year"):
        check_config(config, SCHEMA)


def leaf_keys(schema: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, spec in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        keys |= leaf_keys(spec, f"{path}.") if "properties" in spec else {path}
    return keys


def test_readme_documents_exactly_the_schema_keys():
    table = [
        line.split("|")[1].strip().strip("`")
        for line in open("config/README.md", encoding="utf-8")
        if line.startswith("| `")
    ]
    assert sorted(table) == sorted(leaf_keys(SCHEMA))
    assert len(table) == len(set(table))


def test_every_schema_key_has_a_description_and_default():
    def walk(spec, path):
        for name, sub in spec.get("properties", {}).items():
            assert sub.get("description"), f"{path}{name} has no description"
            assert "default" in sub, f"{path}{name} has no default"
            walk(sub, f"{path}{name}.")

    walk(SCHEMA, "")
