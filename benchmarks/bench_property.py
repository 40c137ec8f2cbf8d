"""The property suite's long run: generated odd cohorts through every stage (issue 11 §2).

Runs tests/property with Hypothesis profile ``bench`` (200 generated examples; ``--quick``:
the ``default`` profile of ``make test``, 6 after the explicit regression cohorts) and prints
examples run, passed, failed, the time, and how the examples ended (Hypothesis events:
outputs written, or the clean error and its stage). Exit status is non-zero when an example
fails.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from measure import print_rows

ROOT = Path(__file__).resolve().parent.parent
COUNTS = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")
EVENT = re.compile(r"^\s+\* ([\d.]+)%, (.+)$")
#: The exception lines of pytest's report ("E   TypeError: ...", "    | TypeError: ...").
ERROR = re.compile(r"^(?:E|\s+\|)\s+((?:[\w.]+\.)?\w*(?:Error|Exception)\b.*)$")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="the default profile (6 generated examples)"
    )
    args, _ = parser.parse_known_args(argv)
    profile = "default" if args.quick else "bench"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/property",
         "--hypothesis-show-statistics"],
        cwd=ROOT,
        env=os.environ | {"HYPOTHESIS_PROFILE": profile},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    generate = done.stdout.split("during generate phase", 1)[-1]
    found = COUNTS.search(generate)
    passed, failed, invalid = (int(n) for n in found.groups()) if found else (0, 0, 0)
    print_rows(
        ("profile", "generated", "passed", "failed", "invalid", "seconds", "s/example", "result"),
        [
            (
                profile,
                str(passed + failed),
                str(passed),
                str(failed),
                str(invalid),
                f"{seconds:.0f}",
                f"{seconds / max(passed + failed, 1):.1f}" if profile == "bench" else "-",
                "pass" if done.returncode == 0 else "FAIL",
            )
        ],
    )
    events = [m.groups() for line in generate.splitlines() if (m := EVENT.match(line))]
    if events:
        print()
        print_rows(("share", "how the examples ended"), [(f"{p}%", e) for p, e in events])
    if done.returncode != 0:
        if not found:
            print("\nan explicit regression cohort failed, so no cohort was generated")
        errors = dict.fromkeys(
            m.group(1) for line in done.stdout.splitlines() if (m := ERROR.match(line))
        )
        print("\n" + "\n".join(list(errors)[:15] or done.stdout.splitlines()[-15:]))
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
