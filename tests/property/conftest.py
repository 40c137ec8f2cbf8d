"""Hypothesis profiles for the property suite: ``default`` (make test) and ``bench`` (make bench).

Choose one with the HYPOTHESIS_PROFILE environment variable. Both are derandomized: the same
examples run on every machine, so a failure in CI is a failure on a laptop.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# Each example runs five stages on files (1-4 s): no per-example deadline, and the "too slow"
# and "large data" checks would only flag what is intended. No shrinking: one shrink of a
# failing cohort runs hundreds of examples (minutes); the failing cohort is printed whole, and
# the "shrink" profile shrinks it when wanted. No "explain" phase either (the same cost again).
_COMMON = {
    "deadline": None,
    "derandomize": True,
    "database": None,  # derandomized: the same examples every run, nothing to replay
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
#: make test: the 8 regression cohorts (explicit examples), then 6 generated ones. An example
#: that reaches the report renders its 9 figures three times (SVG, PNG, inline PNG): most of
#: the 5-8 s of CPU it takes, so the default run stays small; make bench runs many more.
settings.register_profile(
    "default", max_examples=6, phases=[Phase.explicit, Phase.generate], **_COMMON
)
#: make bench (benchmarks/bench_property.py): 200 generated cohorts (about 20 minutes).
settings.register_profile("bench", max_examples=200, phases=[Phase.generate], **_COMMON)
#: The default run, shrinking a failing cohort to a smallest one (slow: minutes).
settings.register_profile(
    "shrink", max_examples=6, phases=[Phase.explicit, Phase.generate, Phase.shrink], **_COMMON
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
