"""The simulator (``pl-eval simulate``): the three-year demo cohort, and the national one.

Target (issue 13): the demo's three school years simulated and written in ≤ 15 s on one core
(it is the first job of every ``make run`` from scratch, whose budget is about 2 minutes). The
national cohort (≈1M students a year, ≈15M test rows) is measured without a target: it is
simulated once per machine. Each case writes into a scratch folder, removed afterwards.
``--quick`` runs the demo alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from measure import measure, print_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the demo alone")
    args = parser.parse_args()
    sizes = ("demo",) if args.quick else ("demo", "national")
    rows = []
    for size in sizes:
        out = Path(tempfile.mkdtemp(prefix=f"pl_eval_bench_simulate_{size}_"))
        try:
            rows.append(
                measure(
                    f"simulate {size} (3 school years)",
                    f"stages.simulate(Path({str(out / size)!r}), size={size!r}, seed=20141)",
                    setup="from pathlib import Path\nfrom pl_eval import stages",
                    target_seconds=15.0 if size == "demo" else None,
                )
            )
        finally:
            shutil.rmtree(out, ignore_errors=True)
    print_table(rows)
    return 0 if all(m.passed for m in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
