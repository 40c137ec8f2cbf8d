"""Run every benchmark script (benchmarks/bench_*.py) in turn; each prints its own table.

Arguments are passed through (e.g. ``--quick`` for smoke-sized runs). Exit status is non-zero
when any benchmark misses a target or fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from measure import machine


def main(argv: list[str]) -> int:
    print(machine(), flush=True)
    failed = []
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n== {script.stem} ==", flush=True)
        if subprocess.run([sys.executable, str(script), *argv]).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nmissed targets or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
