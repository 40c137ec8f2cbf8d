"""InputError's message: one line per problem, the rest summarised past MAX_LINES."""

from pl_eval.errors import MAX_LINES, InputError, Problem


def problems(n: int) -> list[Problem]:
    return [Problem("a.csv", "a date", line=i + 2, column="TestStartDate") for i in range(n)]


def test_one_problem_past_the_limit_is_printed_not_summarised():
    lines = str(InputError(problems(MAX_LINES + 1))).splitlines()
    assert len(lines) == 21
    assert lines[-1] == "a.csv, line 22, column 'TestStartDate': expected a date"


def test_more_are_summarised_with_their_count():
    lines = str(InputError(problems(MAX_LINES + 3))).splitlines()
    assert lines[:MAX_LINES] == [str(p) for p in problems(MAX_LINES)]
    assert lines[MAX_LINES:] == ["... and 3 more problems of the same kinds"]
