"""schools.Spellings: export names read as schools.csv spells them, hand-made cases and
random ones against a row-by-row reading of the rule."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

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


#: Names made of few letters and blanks, so that random names often differ only in case or
#: blanks, or are the same.
NAMES = st.text(alphabet="aAbB ", min_size=1, max_size=4).filter(str.strip)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    frame=st.lists(st.tuples(NAMES, NAMES), max_size=6),
    rows=st.lists(st.tuples(st.one_of(st.none(), NAMES), st.one_of(st.none(), NAMES)), max_size=12),
)
def test_each_row_takes_the_one_spelling_schools_csv_has_for_its_loose_names(frame, rows):
    frame = [(d.strip(), s.strip()) for d, s in frame]
    spellings = Spellings.of([d for d, _ in frame], [s for _, s in frame])
    district = categorical(*(d for d, _ in rows))
    school = categorical(*(s for _, s in rows))
    got_district = spellings.district(district)
    got_school = spellings.school(got_district, school)
    for (d, s), new_d, new_s in zip(rows, got_district, got_school, strict=True):
        # the rule, row by row: a name takes schools.csv's spelling when schools.csv spells
        # its loose form one way only (a school's, within the row's district as respelt)
        districts = {f for f, _ in frame if d is not None and loose_name(f) == loose_name(d)}
        want_d = next(iter(districts)) if len(districts) == 1 else d
        assert (pd.isna(new_d) and d is None) or new_d == want_d
        schools = {
            g for f, g in frame if s is not None and f == want_d and loose_name(g) == loose_name(s)
        }
        want_s = next(iter(schools)) if len(schools) == 1 and d is not None else s
        assert (pd.isna(new_s) and s is None) or new_s == want_s
