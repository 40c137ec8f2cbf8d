"""`make run`: Snakemake in the current folder, picking up after a run that was killed.

Snakemake locks its working folder while it runs (.snakemake/locks/) and removes the lock when it
ends. A run killed with SIGKILL (the out-of-memory killer, a closed laptop, a power cut) cannot,
and the next run then refuses to start until someone runs `snakemake --unlock`, which is unsafe
while another run is in fact going on. So, before Snakemake starts:

1. take an exclusive flock on .snakemake/make_run.flock, held until Snakemake exits (the kernel
   drops it however the process ends): a second `make run` in this folder stops with one line;
2. if Snakemake's lock is there and no live snakemake process works in this folder (one started
   by hand, outside `make run`), the lock was left by a killed run: remove it (`--unlock`);
3. become Snakemake (exec: same process, the flock still held). profiles/default sets
   rerun-incomplete, so the jobs the kill cut short are run again from the start.

Usage: python workflow/run.py <snakemake arguments>  (the Makefile's run target; no -d: the
working folder is the current one). Needs Linux or macOS (flock, and psutil to list processes).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

STATE = Path(".snakemake")
FLOCK = STATE / "make_run.flock"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def is_snakemake(cmdline: Sequence[str]) -> bool:
    """Whether a command line runs Snakemake (its script, or ``python -m snakemake``)."""
    pairs = zip(cmdline, cmdline[1:], strict=False)
    return any(Path(arg).name == "snakemake" for arg in cmdline[:2]) or ("-m", "snakemake") in pairs


def working_folder(cmdline: Sequence[str], cwd: str) -> Path:
    """The folder a snakemake command line works in: its -d/--directory, else ``cwd``."""
    folder = cwd
    for i, arg in enumerate(cmdline):
        if arg in ("-d", "--directory") and i + 1 < len(cmdline):
            folder = os.path.join(cwd, cmdline[i + 1])
        elif arg.startswith("--directory="):
            folder = os.path.join(cwd, arg.split("=", 1)[1])
    return Path(folder).resolve()


def live_snakemake(folder: Path) -> list[int]:
    """Pids of snakemake processes (but this one) that work in ``folder``, or might: a process
    whose folder cannot be read (another user's) counts, to be safe."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        pid, cmdline, cwd = process.info["pid"], process.info["cmdline"], process.info["cwd"]
        if pid == os.getpid() or not cmdline or not is_snakemake(cmdline):
            continue
        if cwd is None or working_folder(cmdline, cwd) == folder:
            found.append(pid)
    return found


def main(args: Sequence[str]) -> int:
    STATE.mkdir(exist_ok=True)
    flock = os.open(FLOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(flock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(
            f"make run: another `make run` is running in {Path.cwd()}; wait for it to finish "
            "(or stop it) and run again",
            file=sys.stderr,
        )
        return 1
    if any((STATE / "locks").glob("*.lock")):
        live = live_snakemake(Path.cwd().resolve())
        if live:
            print(
                f"make run: Snakemake (pid {live[0]}) is running in {Path.cwd()}; wait for it to "
                "finish (or stop it) and run again",
                file=sys.stderr,
            )
            return 1
        print(
            "make run: an earlier run was killed; removing its lock and rerunning its "
            "unfinished jobs",
            file=sys.stderr,
        )
        unlocked = subprocess.run([*SNAKEMAKE, *args, "--unlock"], capture_output=True, text=True)
        if unlocked.returncode != 0:
            sys.stderr.write(unlocked.stdout + unlocked.stderr)
            return unlocked.returncode
    os.set_inheritable(flock, True)  # Snakemake keeps the flock for as long as it runs
    os.execv(sys.executable, [*SNAKEMAKE, *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
