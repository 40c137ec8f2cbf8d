"""schools.Spellings: export names read as schools.csv spells them, hand-made cases."""

import pandas as pd

from pl_eval.ingest.schools import Spellings, loose_name

FRAME = Spellings.of(
    ["RIVERSIDE USD", "RIVERSIDE USD", "Hill County SD", "Hill County SD", "Hill County SD"],
    ["LINCOLN ELEMENTARY", "Jefferson Middle", "Lincoln Elementary", "Oak Park", "OAK PARK"],
)


def categorical(*values) -> pd.Series:
    return pd.Series(values, dtype="str").astype("category")


def test_loose_names_fold_case_and_runs_of_blanks():
    assert loose_name("  Lincoln \t Elementary ") == "lincoln elementary"
    assert loose_name("ESCUELA PEÑA") == loose_name("escuela peña")
    assert loose_name("St. Mary's") != loose_name("St Marys")  # punctuation is a spelling


def test_districts_and_schools_take_schools_csv_spelling():
    district = FRAME.district(
        categorical("Riverside USD", "riverside  usd", "Hill County SD", None)
    )
    assert district.tolist()[:3] == ["RIVERSIDE USD", "RIVERSIDE USD", "Hill County SD"]
    assert pd.isna(district.iloc[3])
    school = FRAME.school(
        district, categorical("Lincoln Elementary", "JEFFERSON MIDDLE", "LINCOLN ELEMENTARY", "x")
    )
    assert school.tolist() == [
        "LINCOLN ELEMENTARY",  # Riverside's spelling
        "Jefferson Middle",
        "Lincoln Elementary",  # Hill County's: a school's spelling is its district's
        "x",  # a row without a district keeps its name
    ]


def test_names_schools_csv_lacks_or_spells_two_ways_are_left_as_written():
    district = categorical("RIVERSIDE USD", "Hill County SD", "Hill County SD", "Elm ISD")
    school = categorical("Lincoln Elementary", "Oak park", "OAK PARK", "Lincoln Elementary")
    assert FRAME.school(district, school).tolist() == [
        "LINCOLN ELEMENTARY",
        "Oak park",  # Oak Park and OAK PARK are two rows of schools.csv: neither is it
        "OAK PARK",
        "Lincoln Elementary",  # Elm ISD is not in schools.csv
    ]
    assert FRAME.district(categorical("Elm ISD")).tolist() == ["Elm ISD"]


def test_names_spelt_as_schools_csv_spells_them_are_the_same_columns():
    rows = pd.DataFrame(
        {"district": categorical("RIVERSIDE USD"), "school": categorical("Jefferson Middle")}
    )
    assert FRAME.framed(rows) is rows
    assert Spellings.of([], []).framed(rows) is rows


def test_a_missing_school_stays_missing_and_rows_keep_their_order():
    district = categorical("RIVERSIDE USD", "RIVERSIDE USD", "RIVERSIDE USD")
    school = categorical("jefferson middle", None, "lincoln elementary")
    respelt = FRAME.school(district, school)
    assert respelt.iloc[0] == "Jefferson Middle" and respelt.iloc[2] == "LINCOLN ELEMENTARY"
    assert pd.isna(respelt.iloc[1])
    assert respelt.index.equals(school.index)
