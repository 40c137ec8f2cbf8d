"""The shipped config is valid; a misspelt key or a wrong value gives one line naming the key
path, the value and what is allowed, for every JSON-schema keyword the schema uses."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from pl_eval import io
from pl_eval.config import (
    check_columns,
    check_config,
    check_workflow_config,
    cohort_problems,
    config_problems,
)
from pl_eval.errors import ConfigError

SCHEMA = io.read_yaml("config/schema.yaml")
CONFIG = io.read_yaml("config/config.yaml")

#: One key per kind of rule, as config/schema.yaml writes them.
KINDS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ratio": {"type": "integer", "minimum": 1},
        "share": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "caliper": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "method": {"type": "string", "enum": ["propensity", "vcg"]},
        "year": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{4}$"},
        "flag": {"type": "boolean"},
        "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "columns": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
        },
        "aliases": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string", "minLength": 1}},
        },
        "names": {
            "type": "array",
            "items": {"type": "string", "not": {"const": "combined"}},
        },
        "runs": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "required": ["main"]},
        "section": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"seed": {"type": "integer"}, "order": {"type": "string"}},
        },
    },
}


@pytest.mark.parametrize(
    ("config", "line"),
    [
        ({"ratio": "five"}, "ratio: 'five' is not allowed; expected a whole number of 1 or more"),
        ({"ratio": 2.5}, "ratio: 2.5 is not allowed; expected a whole number of 1 or more"),
        ({"ratio": 0}, "ratio: 0 is not allowed; expected a whole number of 1 or more"),
        ({"share": 150}, "share: 150 is not allowed; expected a number from 0 to 100 or null"),
        ({"share": -1}, "share: -1 is not allowed; expected a number from 0 to 100 or null"),
        ({"caliper": 0}, "caliper: 0 is not allowed; expected a number above 0 or null"),
        ({"method": "VCG"}, "method: 'VCG' is not allowed; expected one of 'propensity', 'vcg'"),
        (
            {"year": "2022"},
            "year: '2022' is not allowed; expected a string matching ^[0-9]{4}-[0-9]{4}$",
        ),
        ({"flag": "yes"}, "flag: 'yes' is not allowed; expected true or false"),
        ({"range": [100]}, "range: [100] is not allowed; expected a list of 2 numbers"),
        ({"range": [100, "x"]}, "range[1]: 'x' is not allowed; expected a number"),
        (
            {"range": [320, 100]},
            "range: [320, 100] is not allowed; expected [min, max] with min ≤ max",
        ),
        (
            {"columns": ["a", "a"]},
            "columns: ['a', 'a'] is not allowed; expected a non-empty list of distinct strings",
        ),
        (
            {"columns": "a"},
            "columns: 'a' is not allowed; expected a non-empty list of distinct strings",
        ),
        (
            {"aliases": {"StudentID": "id"}},
            "aliases.StudentID: 'id' is not allowed; expected a list of non-empty strings",
        ),
        (
            {"names": ["a", "combined"]},
            "names[1]: 'combined' is not allowed; expected a string, other than 'combined'",
        ),
        (
            {"runs": {"main": {}, "Two Words": {}}},
            "runs: the name 'Two Words' is not allowed; expected a string matching ^[a-z]+$",
        ),
        ({"runs": {}}, "runs.main: missing; expected a value"),
        ({"section": None}, "section: null is not allowed; expected a mapping"),
        ({"section": {"sead": 1}}, "section.sead: unknown key; did you mean 'seed'?"),
        ({"section": {"zzz": 1}}, "section.zzz: unknown key; allowed: order, seed"),
        ({"sectoin": {}}, "sectoin: unknown key; did you mean 'section'?"),
    ],
)
def test_each_kind_of_wrong_value_is_one_line(config, line):
    assert config_problems(config, KINDS) == [line]


def test_a_value_breaking_several_rules_is_described_once_and_lines_sort_by_key():
    config = {"share": 1000, "range": [1, 2, 3], "flag": 0}
    assert config_problems(config, KINDS) == [
        "flag: 0 is not allowed; expected true or false",
        "range: [1, 2, 3] is not allowed; expected a list of 2 numbers",
        "share: 1000 is not allowed; expected a number from 0 to 100 or null",
    ]


def test_shipped_schema_values():
    config = copy.deepcopy(CONFIG)
    config["panel"]["norms_year"] = 2019
    config["match"]["ratio"] = 0
    config["match"]["exact"] = ["grade", 3]
    config["ingest"]["screens"]["rit_range"] = [100]
    assert config_problems(config, SCHEMA) == [
        "ingest.screens.rit_range: [100] is not allowed; expected a list of 2 numbers",
        "match.exact[1]: 3 is not allowed; expected a string",
        "match.ratio: 0 is not allowed; expected a whole number of 1 or more",
        "panel.norms_year: 2019 is not allowed; expected one of 2015, 2020, 2025",
    ]
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA)
    assert str(caught.value).splitlines()[0] == (
        "config/config.yaml: ingest.screens.rit_range: [100] is not allowed; "
        "expected a list of 2 numbers"
    )


def test_a_range_given_backwards_is_named_wherever_it_is_set():
    config = copy.deepcopy(CONFIG)
    config["ingest"]["screens"]["rit_range"] = [320, 100]
    config["ingest"]["screens"]["se_range"] = [5.5, 1.5]
    config["analyses"] = {
        "main": {},
        "narrow": {"ingest": {"screens": {"rit_range": [150.5, 150]}}},
        "point": {"ingest": {"screens": {"se_range": [3, 3]}}},  # min = max is a range
    }
    assert config_problems(config, SCHEMA) == [
        "ingest.screens.rit_range: [320, 100] is not allowed; expected [min, max] with min ≤ max",
        "ingest.screens.se_range: [5.5, 1.5] is not allowed; expected [min, max] with min ≤ max",
        "analyses.narrow.ingest.screens.rit_range: [150.5, 150] is not allowed; "
        "expected [min, max] with min ≤ max",
    ]
    config["ingest"]["screens"]["rit_range"] = [320, "x"]  # the schema's line, not a second
    assert config_problems(config, SCHEMA)[0] == (
        "ingest.screens.rit_range[1]: 'x' is not allowed; expected a number"
    )


def test_misspelt_nested_key_names_its_path_and_suggests():
    config = copy.deepcopy(CONFIG)
    config["ingest"]["screnes"] = {}
    config["match"]["vcg"]["frl_bnad"] = 5
    config["cohort"] = "demo"
    assert config_problems(config, SCHEMA) == [
        "cohort: unknown key; did you mean 'cohorts'?",
        "ingest.screnes: unknown key; did you mean 'screens'?",
        "match.vcg.frl_bnad: unknown key; did you mean 'frl_band'?",
    ]


def test_analysis_overrides_are_checked_against_their_sections():
    config = copy.deepcopy(CONFIG)
    config["analyses"] = {
        "main": {},
        "vcg": {"match": {"methd": "vcg"}},
        "loose": {"match": {"caliper": -1, "vcg": {"max_matches": 0}}, "mtch": {}},
        "screens": {"ingest": {"screens": {"rit_range": [1, 2, 3]}}},
    }
    assert config_problems(config, SCHEMA) == [
        "analyses.loose.mtch: unknown key; did you mean 'match'?",
        "analyses.vcg.match.methd: unknown key; did you mean 'method'?",
        "analyses.loose.match.caliper: -1 is not allowed; expected a number above 0 or null",
        "analyses.loose.match.vcg.max_matches: 0 is not allowed; "
        "expected a whole number of 1 or more",
        "analyses.screens.ingest.screens.rit_range: [1, 2, 3] is not allowed; "
        "expected a list of 2 numbers",
    ]


def test_an_override_may_give_any_subset_of_a_section():
    config = copy.deepcopy(CONFIG)
    config["analyses"] = {"main": {}, "one": {"match": {"ratio": 1}}, "none": {"estimate": {}}}
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["match"]["required"] = ["method"]  # required at top level only
    assert config_problems(config, schema) == []


def test_columns_a_panel_lacks_are_named_with_a_guess():
    config = copy.deepcopy(CONFIG)
    config["match"]["covariates"] = ["fall_z", "frl"]
    config["estimate"]["covariates"] = ["fall_z", "zzz_unknown"]
    config["analyses"] = {"main": {}, "ex": {"match": {"exact": ["grade", "local_group"]}}}
    lines = config_problems(config, SCHEMA)
    assert [line.split(" panel columns: ")[0] for line in lines] == [
        "match.covariates: 'frl' is not a panel column; did you mean 'frl_pct'?",
        "analyses.ex.match.exact: 'local_group' is not a panel column; "
        "did you mean 'locale_group'?",
        "estimate.covariates: 'zzz_unknown' is not a panel column;",
    ]
    assert lines[0].endswith(" panel columns: student_key, subject, district, school, grade, "
                             "grade_band, gender, ethnicity, sector, treated, pl_start_year, "
                             "years_pl, frl_pct, locale, locale_group, fall_date, spring_date, "
                             "days_between, fall_rit, fall_se, spring_rit, spring_se, fall_z, "
                             "spring_z, fall_pct, spring_pct, fall_week, spring_week, "
                             "exposure, growth_projected, growth_observed, growth_met, "
                             "growth_cgi, growth_cgp")  # fmt: skip
    with pytest.raises(ConfigError, match=r"^match.exact: 'grade' is not a panel column; panel "):
        check_columns("match", {"exact": ["grade"]}, ["fall_z", "treated"])
    check_columns("match", {"exact": ["grade"]}, ["grade"])


def test_cohorts_without_a_folder(tmp_path):
    for name in ("2013-2014", "2014-2015", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "2015-2016.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # NWEA's download
    root = tmp_path.as_posix()
    assert cohort_problems(
        ["2014-2015", "demo", "2014-15", "zzz", "2015-2016", "notes", "2015-2016.zip"],
        tmp_path,
        ("demo",),
    ) == [
        f"cohorts: '2014-15' has no folder {root}/2014-15/; folders there: 2013-2014, "
        "2014-2015 (did you mean '2014-2015'?)",
        f"cohorts: 'zzz' has no folder {root}/zzz/; folders there: 2013-2014, 2014-2015",
        f"cohorts: '2015-2016' has no folder {root}/2015-2016/; folders there: 2013-2014, "
        "2014-2015; 2015-2016.zip is a file: make the folder "
        "2015-2016/ and move it there, with schools.csv, and run that cohort (ingest reads "
        "the exports in a .zip)",
        f"cohorts: 'notes' has no folder {root}/notes/; folders there: 2013-2014, 2014-2015; "
        "notes.txt is a file: make the folder notes/ and move it there, with schools.csv, and "
        "run that cohort (ingest reads the exports in a .zip)",
        f"cohorts: '2015-2016.zip' has no folder {root}/2015-2016.zip/; folders there: "
        "2013-2014, 2014-2015; 2015-2016.zip is a file: make the folder 2015-2016/ and move it "
        "there, with schools.csv, and run that cohort (ingest reads the exports in a .zip)",
    ]
    assert cohort_problems(["x"], tmp_path / "none", ()) == [
        f"cohorts: 'x' has no folder {root}/none/x/; folders there: none"
    ]


def test_workflow_config_problems_stop_snakemake_with_the_lines_alone(tmp_path):
    """Snakemake prints a SystemExit's message as it is; other exceptions get a traceback."""
    schema = tmp_path / "schema.yaml"
    io.write_json(SCHEMA, schema)  # JSON is YAML
    (tmp_path / "data" / "raw" / "demo").mkdir(parents=True)
    (tmp_path / "Snakefile").write_text(
        "from pl_eval import io\n"
        "from pl_eval.config import check_workflow_config\n"
        f"config.update(io.read_yaml({str(Path('config/config.yaml').resolve())!r}))\n"
        "config['cohorts'] = ['demoo']\n"
        "config['match']['covariates'] = ['frl']\n"
        f"check_workflow_config(config, io.read_yaml({str(schema)!r}))\n"
        "rule all:\n    input: []\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-d", str(tmp_path),
         "-s", str(tmp_path / "Snakefile")],
        capture_output=True, text=True, check=False, cwd=tmp_path,  # no workflow profile
    )  # fmt: skip
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1
    assert [line.split(" panel columns: ")[0] for line in lines] == [
        "config/config.yaml: match.covariates: 'frl' is not a panel column; "
        "did you mean 'frl_pct'?",
        "cohorts: 'demoo' has no folder data/raw/demoo/; folders there: demo "
        "(did you mean 'demo'?)",
    ]
    config = copy.deepcopy(CONFIG)
    config["cohorts"] = ["national", "demo"]
    check_workflow_config(config, SCHEMA, raw_root=tmp_path / "nothing")  # simulated: no folder


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


def test_every_schema_key_has_a_description_type_and_default():
    def walk(spec, path):
        for name, sub in spec.get("properties", {}).items():
            assert sub.get("description"), f"{path}{name} has no description"
            assert "default" in sub, f"{path}{name} has no default"
            assert "type" in sub, f"{path}{name} has no type"
            walk(sub, f"{path}{name}.")

    walk(SCHEMA, "")


def test_config_text_in_messages_is_escaped_and_cut_short(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["ingest"]["screens\n\x1b[2J" + "s" * 300] = 1  # a key with a line break and a code
    config["match"]["covariates"] = ["fall_z", "frl\n" + "x" * 300]
    lines = config_problems(config, SCHEMA)
    assert lines[0].startswith("ingest.screens\\n\\x1b[2Jsss")
    assert lines[0].endswith(
        "sss...: unknown key; allowed: column_aliases, district_name, end_of_course, screens"
    )
    assert lines[1].startswith(
        f"match.covariates: 'frl\\n{'x' * 36}'... (304 characters) is not a panel column"
    )
    assert all("\n" not in line and len(line) < 500 for line in lines)
    for i in range(30):
        (tmp_path / f"cohort-{i:02}").mkdir()
    (line,) = cohort_problems(["y" * 500], tmp_path, ())
    assert line.startswith(f"cohorts: '{'y' * 40}'... (500 characters) has no folder ")
    assert line.endswith("cohort-18, cohort-19 and 10 more")
