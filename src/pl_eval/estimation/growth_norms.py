"""Growth against NWEA's norms, as schools read it: by arm, the share of students who met their
projected growth and their mean conditional growth percentile (CGP).

These are NWEA's own per-student fields of the panel's window (``growth_met``, ``growth_cgp``,
from the outcome test: :mod:`pl_eval.windows`), each student's growth against the norms of
students who started where they did. They are descriptive, not the effect estimate: the
comparison is of PL students with comparison students, matched (each student weighted by their
match weight, as the estimates weight them) and unmatched (every panel student of the arm).

A student counts where the export gives both their met flag and their CGP (NWEA fills the
block together; "Yes*" and "No*", met or not within the SE of observed growth, count as Yes
and No). When no panel student has them the exports carry no growth fields: every row says so
(:data:`NO_FIELDS`), and the report says it in words rather than showing zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLES = ("matched", "all")
ARMS = ("treated", "comparison")
#: The panel's columns the summary reads (besides subject, treated and the match weight).
FIELDS = ["growth_met", "growth_cgp"]
COLUMNS = ["subject", "sample", "arm", "n_students", "share_met", "mean_cgp", "window", "note"]
NO_FIELDS = "the exports carry no NWEA growth fields"
NO_STUDENTS = "no students with NWEA growth fields"


def growth_norms(
    panel: pd.DataFrame, matched: dict[str, pd.DataFrame], window: str
) -> pd.DataFrame:
    """One row per subject (of ``matched``), sample and arm (:data:`COLUMNS`): students with
    NWEA's growth fields, the (weighted) share who met their projected growth and their
    (weighted) mean CGP. ``panel`` is the whole panel, ``matched`` each subject's matched rows
    with their ``weight``; ``window`` (config ``panel.window``) is written on every row."""
    carried = bool(_has_fields(panel).any())
    rows = []
    for subject in sorted(matched):
        samples = {
            "matched": matched[subject],
            "all": panel[panel["subject"] == subject].assign(weight=1.0),
        }
        for sample in SAMPLES:
            frame = samples[sample]
            for arm in ARMS:
                mine = (frame["treated"] == (arm == "treated")) & _has_fields(frame)
                part = frame.loc[mine].reindex(columns=["weight", *FIELDS])
                weight = part["weight"].to_numpy(float)
                n = len(part)
                total = weight.sum()
                met, cgp = (
                    part[c].astype("Float64").to_numpy(float, na_value=np.nan) for c in FIELDS
                )
                rows.append(
                    {
                        "subject": subject,
                        "sample": sample,
                        "arm": arm,
                        "n_students": n,
                        "share_met": float(weight @ met / total) if total > 0 else np.nan,
                        "mean_cgp": float(weight @ cgp / total) if total > 0 else np.nan,
                        "window": window,
                        "note": "" if n else (NO_STUDENTS if carried else NO_FIELDS),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n_students": "int64"})


def summary(table: pd.DataFrame) -> str:
    """One line for the log: the matched rows' share met and mean CGP, or why there are none."""
    if not carries_fields(table):
        return NO_FIELDS
    rows = table[(table["sample"] == "matched") & (table["n_students"] > 0)]
    return "; ".join(
        f"{r.subject} {r.arm} (matched, n={r.n_students}): met {r.share_met:.1%}, "
        f"mean CGP {r.mean_cgp:.1f}"
        for r in rows.itertuples()
    )


def carries_fields(table: pd.DataFrame) -> bool:
    """Whether a :func:`growth_norms` table found any NWEA growth fields in the exports."""
    return not (table["note"] == NO_FIELDS).all() if len(table) else False


def _has_fields(frame: pd.DataFrame) -> pd.Series:
    """Rows whose outcome test carries both the met flag and the CGP."""
    if "growth_met" not in frame or "growth_cgp" not in frame:
        return pd.Series(False, index=frame.index)
    return (frame["growth_met"].notna() & frame["growth_cgp"].notna()).astype(bool)
