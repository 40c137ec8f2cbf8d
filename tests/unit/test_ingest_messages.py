"""Excerpts of input content in messages: short, one line, inert (issue 11 §3)."""

import pytest

from pl_eval.errors import Problem, quoted


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Pe\u00f1a", "'Pe\u00f1a'"),  # ordinary text as repr shows it
        ("O'Brien", '"O\'Brien"'),
        ("a\nb\r\tc", "'a\\nb\\r\\tc'"),  # line breaks escaped: the message stays one line
        ("\x1b[31mred\x1b[0m", "'\\x1b[31mred\\x1b[0m'"),  # no terminal escapes
        ("\u202eevil", "'\\u202eevil'"),  # no bidirectional overrides
        ("<script>x</script>", "'\\x3cscript\\x3ex\\x3c/script\\x3e'"),  # no markup
        ("9" * 41, "'" + "9" * 40 + "'... (41 characters)"),
        ("A" * 10_000, "'" + "A" * 40 + "'... (10,000 characters)"),
    ],
)
def test_quoted(text, shown):
    assert quoted(text) == shown


def test_problem_shows_excerpts_of_found_and_column():
    problem = Problem("a.csv", "a number", line=3, column="<b>", found="x" * 100 + "\n")
    assert str(problem) == (
        "a.csv, line 3, column '\\x3cb\\x3e': expected a number, found "
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (101 characters)"
    )
