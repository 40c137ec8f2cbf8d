"""Writes tests/data/small_cohort (run from the repository root; the files are committed).

Two PL schools of 14 grade-5 students who took math only, one comparison school of 40 grade-5
students who took math and reading; every school has the same FRL share and locale, so the
propensity model matches on fall score and gender. Names and birth dates are invented.
"""

import csv
from pathlib import Path

import numpy as np

root = Path("tests/data/small_cohort")
rng = np.random.default_rng(11)
district = "Valley USD"
schools = [
    # name, sector, pl_start_year, frl, n students, subjects
    ('A$x^2$ <b>&"Academy"', "charter", "2013", "58.0", 14, ("Mathematics",)),
    ('=HYPERLINK("x")', "district", "2014", "58.0", 14, ("Mathematics",)),
    ("Cedar Elementary", "district", "", "58.0", 40, ("Mathematics", "Reading")),
]
with open(root / "schools.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(
        ["district_name", "school_name", "nces_id", "sector", "pl_start_year", "frl_pct", "locale"]
    )
    for i, (name, sector, start, frl, _, _) in enumerate(schools):
        w.writerow([district, name, f"06000000{i:04d}", sector, start, frl, "21"])
terms = {"Fall 2014-2015": "9/15/2014", "Spring 2014-2015": "5/5/2015"}
results, roster = [], []
sid = 5000
for name, _sector, start, _frl, n, subjects in schools:
    for _ in range(n):
        sid += 1
        gender = "F" if rng.random() < 0.5 else "M"
        base = {s: rng.normal(208 if s == "Mathematics" else 205, 12) for s in subjects}
        for term, date in terms.items():
            roster.append(
                [
                    term,
                    district,
                    name,
                    "Doe",
                    "Sam",
                    "",
                    f"S{sid}",
                    "1/1/2004",
                    "White",
                    gender,
                    "5",
                ]
            )
            for s in subjects:
                gain = 0 if term.startswith("Fall") else rng.normal(9 if start else 7, 6)
                rit = int(round(base[s] + gain))
                results.append(
                    [term, district, name, f"S{sid}", s, "TRUE", date, "45", str(rit), "3.1"]
                )
with open(root / "2014-2015/AssessmentResults.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(
        [
            "TermName",
            "DistrictName",
            "SchoolName",
            "StudentID",
            "MeasurementScale",
            "GrowthMeasureYN",
            "TestStartDate",
            "TestDurationMinutes",
            "TestRITScore",
            "TestStandardError",
        ]
    )
    w.writerows(results)
with open(root / "2014-2015/StudentsBySchool.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(
        [
            "TermName",
            "DistrictName",
            "SchoolName",
            "StudentLastName",
            "StudentFirstName",
            "StudentMI",
            "StudentID",
            "StudentDateOfBirth",
            "StudentEthnicGroup",
            "StudentGender",
            "Grade",
        ]
    )
    w.writerows(roster)
print(len(results), len(roster))
