"""System faults through the ``pl-eval`` command and the Snakefile: a folder where a file should
be, a file where a folder should be, no permission, a read-only or full disk, a pseudonymisation
key file that cannot be made or read, a config file that is not YAML. Each ends in one line naming
the path and what to do, exit status 1, no traceback, and no half-written file left behind.

Root ignores file permissions, so permission faults run as an unprivileged user (setpriv) when
the suite runs as root; full and read-only disks are real tmpfs mounts where this user may mount
them (root), and are also simulated by making the system call fail (monkeypatch) everywhere.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import pandas as pd
import pytest

from pl_eval import cli, io
from pl_eval.cli import main

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "data" / "ingest" / "minimal"
KEY = "faults-test-key1"
OUTPUTS = ("scores", "duplicates", "rejects", "schools", "summary")
NO_SPACE = "no space left on the disk; free some space (or write to another disk) and run again"
READ_ONLY = "is on a read-only file system; write to a folder on a writable disk, or remount it "
READ_ONLY += "read-write"
DENIED = "permission denied; give this user access to it (chmod, chown) or choose another path"
KEY_ACTION = (
    "set PL_EVAL_KEY_FILE to a file this user can read (or create: a new key is made on first "
    "use), or PL_EVAL_KEY to the key"
)


def run(capsys, *argv: str) -> tuple[int, list[str]]:
    """Exit status and the error lines of ``pl-eval argv`` (progress lines left out)."""
    status = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, [line for line in err.splitlines() if ": error: " in line]


def ingest_args(out: Path, raw: Path = MINIMAL) -> list[str]:
    names = {"scores": "scores.parquet", "duplicates": "duplicates.parquet",
             "rejects": "rejects.parquet", "schools": "schools.parquet",
             "summary": "ingest_summary.json"}  # fmt: skip
    return ["ingest", str(raw), *[a for k in OUTPUTS for a in (f"--{k}", str(out / names[k]))]]


def files(folder: Path) -> list[str]:
    """Every file under ``folder`` (temporaries too), relative and sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("PL_EVAL_KEY", KEY)


# --- Outputs --------------------------------------------------------------------------------


def test_output_folder_blocked_by_a_file(tmp_path, capsys, key):
    (tmp_path / "out").write_text("notes\n")
    status, lines = run(capsys, *ingest_args(tmp_path / "out" / "demo"))
    assert (status, lines) == (
        1,
        [
            f"pl-eval ingest: error: {tmp_path}/out: part of this path is a file, not a folder; "
            "move that file away or choose another folder"
        ],
    )
    assert files(tmp_path) == ["out"] and (tmp_path / "out").read_text() == "notes\n"


@pytest.mark.parametrize(
    ("code", "what"), [(errno.EROFS, READ_ONLY), (errno.EACCES, DENIED)], ids=["EROFS", "EACCES"]
)
def test_output_folder_that_cannot_be_written(tmp_path, capsys, key, monkeypatch, code, what):
    def refuse(*args, dir=None, **kwargs):  # what the OS says for a read-only / unwritable folder
        raise OSError(code, os.strerror(code), f"{dir}/.duplicates.parquet.x1y2.tmp")

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    status, lines = run(capsys, *ingest_args(tmp_path / "out"))
    # The output is named (the first ingest writes), not the temporary the OS refused.
    assert (status, lines) == (
        1,
        [f"pl-eval ingest: error: {tmp_path}/out/duplicates.parquet: {what}"],
    )
    assert files(tmp_path) == []


def test_disk_full_halfway_through_a_write_leaves_no_half_file(tmp_path, capsys, key, monkeypatch):
    write_text = Path.write_text

    def fill_up(self, text, *args, **kwargs):  # the summary JSON gets half way, then ENOSPC
        if self.name.endswith(".tmp") and "ingest_summary" in self.name:
            write_text(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fill_up)
    status, lines = run(capsys, *ingest_args(tmp_path / "out"))
    assert (status, lines) == (
        1,
        [f"pl-eval ingest: error: {tmp_path}/out/ingest_summary.json: {NO_SPACE}"],
    )
    # Files written before the disk filled are whole; the one being written is gone entirely.
    assert files(tmp_path / "out") == [
        "duplicates.parquet",
        "rejects.parquet",
        "schools.parquet",
        "scores.parquet",
    ]


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[callable]:
    """Mount a small tmpfs (``mount(name, options)``), unmounted afterwards; skipped where this
    user cannot mount (not root, or a container without the capability)."""
    mounted = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); simulated above")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:  # lazily: a file a failed test left open must not keep it mounted
        subprocess.run(["umount", "--lazy", str(point)], check=True)


@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command")
def test_full_and_read_only_disks_for_real(tmpfs, capsys, key):
    full = tmpfs("full", "size=64k")
    with open(full / "filler", "wb", buffering=0) as fh, pytest.raises(OSError):  # to the brim
        while True:
            fh.write(b"\0" * 4096)
    status, lines = run(capsys, *ingest_args(full / "demo"))
    assert (status, lines) == (
        1,
        [f"pl-eval ingest: error: {full}/demo/duplicates.parquet: {NO_SPACE}"],
    )
    assert files(full) == ["filler"]

    read_only = tmpfs("read_only", "size=64k,ro")
    status, lines = run(capsys, *ingest_args(read_only))
    assert (status, lines) == (
        1,
        [f"pl-eval ingest: error: {read_only}/duplicates.parquet: {READ_ONLY}"],
    )
    assert files(read_only) == []


@pytest.mark.skipif(shutil.which("mount") is None, reason="no mount command")
def test_a_zip_whose_files_do_not_fit_the_temporary_folder(tmp_path, tmpfs, capsys, key):
    """Ingest extracts a .zip's exports into a temporary folder: on a full disk that is one line
    naming the file and where it comes from (TMPDIR moves it), and nothing is left there."""
    raw = tmp_path / "cohort"
    shutil.copytree(MINIMAL, raw)
    with zipfile.ZipFile(raw / "Fall.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(raw / "AssessmentResults.csv", "AssessmentResults.csv")
        archive.writestr("Spring.txt", b"TestRITScore\n" + b" " * 256 * 1024)  # 256 kB in 1 kB
    (raw / "AssessmentResults.csv").unlink()
    scratch = tmpfs("scratch", "size=64k")
    with patch.object(tempfile, "tempdir", str(scratch)):
        status, lines = run(capsys, *ingest_args(tmp_path / "out", raw))
    assert status == 1
    [line] = lines
    assert line.startswith(f"pl-eval ingest: error: {scratch}/pl_eval_unzipped_")
    assert line.endswith(f"/0/1 (a file of Fall.zip extracted; TMPDIR sets where to): {NO_SPACE}")
    assert files(scratch) == []
    assert not (tmp_path / "out").exists()


def test_log_file_that_cannot_be_written_is_one_warning_not_a_traceback(tmp_path, capsys):
    handler = cli._LogFile(tmp_path / "stage.log", mode="w", encoding="utf-8")

    class FullDisk:
        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "stage.log"))

        def flush(self):
            pass

    handler.stream.close()
    handler.stream = FullDisk()
    logger = logging.getLogger("pl_eval.test_faults")
    logger.addHandler(handler)
    logger.propagate = False  # to this handler alone
    try:
        logger.error("first")
        logger.error("second")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert capsys.readouterr().err.splitlines() == [
        f"pl-eval: warning: log file {tmp_path}/stage.log: {NO_SPACE}; logging to it stopped"
    ]


def test_log_file_in_a_folder_blocked_by_a_file(tmp_path, capsys, key):
    (tmp_path / "logs").write_text("")
    argv = [*ingest_args(tmp_path / "out"), "--log", str(tmp_path / "logs" / "ingest.log")]
    status, lines = run(capsys, *argv)
    assert (status, lines) == (
        1,
        [
            f"pl-eval ingest: error: {tmp_path}/logs: part of this path is a file, not a "
            "folder; move that file away or choose another folder"
        ],
    )
    assert files(tmp_path) == ["logs"]


# --- Inputs ---------------------------------------------------------------------------------


MATCH_OUTPUTS = ("matched", "pairs", "propensity", "balance", "summary", "love-plot",
                 "overlap-plot")  # fmt: skip


def match_args(panel: Path, out: Path) -> list[str]:
    outputs = [a for name in MATCH_OUTPUTS for a in (f"--{name}", str(out / name))]
    return ["match", "--panel", str(panel), "--subject", "math", *outputs]


#: ``pl-eval`` with SIGINT sent to itself once the third file a stage writes is written in full
#: under its temporary name, before it is renamed into place: Ctrl-C at the moment an output is
#: most nearly half-written, every run (a timed signal from outside raced the writes and, on a
#: busy machine, sometimes came after the stage had finished). Python's own SIGINT handler is
#: put back first: a suite started in the background (``make test &``, nohup) passes its
#: children SIGINT ignored, as shells do for background jobs, and the signal would do nothing.
INTERRUPTED_ON_THIRD_WRITE = """
import contextlib, os, signal, sys
from pl_eval import cli, io

signal.signal(signal.SIGINT, signal.default_int_handler)

real, written = io.atomic_path, []

@contextlib.contextmanager
def interrupted(path):
    with real(path) as tmp:
        yield tmp
        written.append(path)
        if len(written) == 3:
            os.kill(os.getpid(), signal.SIGINT)

io.atomic_path = interrupted
sys.exit(cli.main(sys.argv[1:]))
"""


def test_ctrl_c_is_one_line_exit_130_and_leaves_no_half_written_file(tmp_path):
    """SIGINT while a stage writes its files (the demo cohort's simulation, interrupted as its
    third export is about to be renamed into place): the two written before stay whole, the
    third is neither there nor left as a temporary."""
    out = tmp_path / "cohort"
    command = [sys.executable, "-c", INTERRUPTED_ON_THIRD_WRITE, "simulate", str(out),
               "--size", "demo", "--school-years", "2022-2023"]  # fmt: skip
    stage = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=300)
    assert stage.returncode == 130, stage.stderr
    assert "Traceback" not in stage.stderr
    assert stage.stderr.splitlines()[-1] == (
        "pl-eval simulate: interrupted; no output is left half-written (each is renamed into "
        "place whole), so run it again"
    )
    assert [p.name for p in out.rglob("*") if p.name.startswith(".")] == []  # no temporary
    exports = sorted(out.rglob("*.csv"))
    assert len(exports) == 2
    for export in exports:  # whole: data rows, each with the header's fields
        with export.open(newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) > 1
        assert {len(row) for row in rows} == {len(rows[0])}


def test_out_of_memory_is_one_line_not_a_traceback(tmp_path):
    """A stage that runs out of memory for real: a national cohort of a fifth the comparison
    schools simulated with its address space capped at 1.5 GB (it needs about 2), so numpy
    fails to allocate part way."""
    out = tmp_path / "cohort"
    command = [sys.executable, "-m", "pl_eval", "simulate", str(out), "--size", "national",
               "--scale", "0.2", "--school-years", "2022-2023"]  # fmt: skip

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1500 << 20, resource.RLIM_INFINITY))

    stage = subprocess.run(command, stderr=subprocess.PIPE, text=True, preexec_fn=capped)
    assert stage.returncode == 1, stage.stderr
    assert "Traceback" not in stage.stderr
    last = stage.stderr.splitlines()[-1]
    assert last.startswith("pl-eval simulate: error: out of memory (")  # numpy's or Arrow's
    assert last.endswith(
        "); no output is left half-written; free memory or run fewer jobs side by side "
        "(make run MEM_MB=N caps what the jobs use together, in MB), then run it again"
    )
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_input_that_is_a_folder_missing_or_not_parquet(tmp_path, capsys):
    (tmp_path / "panel_dir").mkdir()
    (tmp_path / "notes.parquet").write_text("x" * 5000 + "\n")  # not Parquet: nothing echoed
    cases = {
        "panel_dir": "is a folder, not a file; give the path of a file",
        "missing.parquet": "does not exist; check the path",
        "notes.parquet": "expected a Parquet file written by pl-eval, found 'other data (cut "
        "short?)'",
    }
    for name, what in cases.items():
        status, lines = run(capsys, *match_args(tmp_path / name, tmp_path / "out"))
        assert (status, lines) == (1, [f"pl-eval match: error: {tmp_path}/{name}: {what}"])
    assert not (tmp_path / "out").exists()


# --- The pseudonymisation key file ----------------------------------------------------------


@pytest.fixture
def key_file(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("PL_EVAL_KEY", raising=False)
    path = tmp_path / "conf" / "pseudonym.key"
    monkeypatch.setenv("PL_EVAL_KEY_FILE", str(path))
    return path


def test_key_file_that_is_a_folder(tmp_path, capsys, key_file):
    key_file.mkdir(parents=True)
    status, lines = run(capsys, *ingest_args(tmp_path / "out"))
    assert (status, lines) == (
        1,
        [
            f"pl-eval ingest: error: pseudonymisation key file {key_file}: is a folder, not a "
            f"file; {KEY_ACTION}"
        ],
    )
    assert not (tmp_path / "out").exists()


def test_key_file_whose_folder_is_a_file(tmp_path, capsys, key_file):
    key_file.parent.write_text("")
    status, lines = run(capsys, *ingest_args(tmp_path / "out"))
    assert (status, lines) == (
        1,
        [
            f"pl-eval ingest: error: pseudonymisation key file {key_file}: {key_file.parent}: "
            f"part of this path is a file, not a folder; {KEY_ACTION}"
        ],
    )


def test_key_file_that_cannot_be_read(tmp_path, capsys, key_file, monkeypatch):
    key_file.parent.mkdir()
    key_file.write_text(KEY + "\n")
    read_text = Path.read_text

    def refuse(self, *args, **kwargs):
        if self == key_file:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)
    status, lines = run(capsys, *ingest_args(tmp_path / "out"))
    assert (status, lines) == (
        1,
        [
            f"pl-eval ingest: error: pseudonymisation key file {key_file}: permission denied; "
            f"{KEY_ACTION}"
        ],
    )


def test_new_key_file_on_a_full_disk_is_never_half_written(tmp_path, capsys, key_file, monkeypatch):
    fdopen = os.fdopen

    class FillsUp:
        """A file that takes 4 characters, then the disk is full."""

        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[:4])
            self.fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "fdopen", lambda fd, *a, **k: FillsUp(fdopen(fd, *a, **k)))
    status, lines = run(capsys, *ingest_args(tmp_path / "out"))
    assert (status, lines) == (
        1,
        [f"pl-eval ingest: error: pseudonymisation key file {key_file}: no space left on the "
         f"disk; {KEY_ACTION}"],
    )  # fmt: skip
    assert files(key_file.parent) == []  # no 4-character key to be used by the next run
    monkeypatch.setattr(io.os, "fdopen", fdopen)  # space again: a whole new key
    assert len(io.read_pseudonym_key()) == 16


# --- Permissions for real: as an unprivileged user ------------------------------------------

UNPRIVILEGED = """
import json, os, sys
from pl_eval.cli import main
statuses = []
for env, argv in json.loads(sys.argv[1]):
    os.environ.pop("PL_EVAL_KEY", None)
    os.environ.update(env)
    statuses.append(main(argv))
print(json.dumps(statuses))
"""


def as_unprivileged(workdir: Path, runs: list[tuple[dict, list[str]]]) -> tuple[list, list[str]]:
    """Run each (environment, ``pl-eval`` argv) in one Python process as a user that file
    permissions bind: this user, or nobody (setpriv) when this is root; their exit statuses
    and the error lines."""
    command = [sys.executable, "-c", UNPRIVILEGED, json.dumps(runs)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=workdir,
        env={**os.environ, "HOME": str(workdir), "MPLCONFIGDIR": str(workdir)},
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    return json.loads(done.stdout), errors


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A scratch folder an unprivileged user can enter (pytest's tmp_path is root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="pl_eval_faults_"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_permission_faults_as_an_unprivileged_user(shared_tmp):
    raw = shared_tmp / "raw"
    shutil.copytree(MINIMAL, raw)
    (raw / "AssessmentResults.csv").chmod(0o000)
    config = shared_tmp / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "config.yaml").chmod(0o000)
    locked = shared_tmp / "locked"  # the user may read it but not write into it
    locked.mkdir(mode=0o755)
    panel = shared_tmp / "panel.parquet"
    io.write_parquet(pd.DataFrame({"subject": ["math"]}), panel)
    panel.chmod(0o000)
    key_file = shared_tmp / "pseudonym.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o000)
    writable = shared_tmp / "out"
    writable.mkdir(mode=0o777)

    given_key = {"PL_EVAL_KEY": KEY}
    runs = [
        (given_key, ingest_args(locked / "demo")),
        (given_key, match_args(panel, writable / "match")),
        (given_key, ["check-inputs", str(MINIMAL), "--config", str(config / "config.yaml")]),
        ({"PL_EVAL_KEY_FILE": str(key_file)}, ingest_args(writable / "demo")),
        (given_key, ["check-inputs", str(raw), "--config", str(ROOT / "config" / "config.yaml")]),
    ]
    statuses, errors = as_unprivileged(shared_tmp, runs)
    assert statuses == [1, 1, 1, 1, 1]
    assert errors[:4] == [
        f"pl-eval ingest: error: {locked}/demo: {DENIED}",
        f"pl-eval match: error: {panel}: {DENIED}",
        f"pl-eval check-inputs: error: {config}/config.yaml: {DENIED}",
        f"pl-eval ingest: error: pseudonymisation key file {key_file}: permission denied; "
        f"{KEY_ACTION}",
    ]
    # An unreadable export is one of check-inputs' problems (ingest's message, its file named).
    assert any("AssessmentResults.csv" in line for line in errors[4:]), errors
    assert files(locked) == [] and files(writable) == []


# --- The config file ------------------------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


def shipped_with(config_dir: Path, old: str, new: str) -> Path:
    path = config_dir / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def config_line(text: str, start: str) -> int:
    """The number of the first line of ``text`` that starts with ``start`` (indent aside)."""
    found = (i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(start))
    return next(found)


def test_yaml_syntax_error_names_file_line_and_column(config_dir, capsys):
    path = shipped_with(config_dir, "  screens:\n", "  screens: x: y\n")
    line = config_line(path.read_text(), "screens: x: y")
    status, lines = run(capsys, "check-inputs", str(MINIMAL), "--config", str(path))
    assert (status, lines) == (
        1,
        [
            f"pl-eval check-inputs: error: {path}, line {line}, column 13: not valid YAML: "
            "mapping values are not allowed here (the line reads 'screens: x: y')"
        ],
    )


def test_unclosed_list_points_back_to_where_it_began(config_dir, capsys):
    path = shipped_with(config_dir, "rit_range: [100, 320]", "rit_range: [100, 320")
    line = config_line(path.read_text(), "rit_range:")
    status, lines = run(capsys, "check-inputs", str(MINIMAL), "--config", str(path))
    assert status == 1
    assert lines == [
        f"pl-eval check-inputs: error: {path}, line {line + 1}, column 5: not valid YAML: "
        f"expected ',' or ']', but got '<scalar>', while parsing a flow sequence that starts on "
        f"line {line} (the line reads 'se_range: [1.5, 5.5]        # valid s...')"
    ]


def test_bad_config_content_is_echoed_short_and_escaped(config_dir, capsys):
    path = config_dir / "config.yaml"
    cases = {
        f"cohorts: [demo]\nnote: {'A' * 5000}: x\n": "line 2, column 5007: not valid YAML: "
        f"mapping values are not allowed here (the line reads 'note: {'A' * 31}...')",
        "cohorts: [demo]\nnote: a\x1b[31mred\n": "line 2, column 8: not valid YAML: the "
        "character '\\x1b' is not allowed (the line reads 'note: a\\x1b[31mred')",
        "cohorts: [d\xe9mo]\n": "line 1: expected UTF-8 text, found the byte 0xe9; save the "
        "file as UTF-8",
    }
    for text, what in cases.items():
        path.write_bytes(text.encode("latin-1"))
        status, lines = run(capsys, "check-inputs", str(MINIMAL), "--config", str(path))
        assert (status, lines) == (1, [f"pl-eval check-inputs: error: {path}, {what}"])
        assert len(lines[0]) - len(str(path)) < 200  # the echoed text is cut, not the path


@pytest.mark.parametrize("command", ["check-inputs", "snakemake"])
def test_a_key_given_twice_is_refused_not_the_last_one_kept(config_dir, capsys, command):
    """PyYAML (and Snakemake's loader) would keep the pasted ratio: 3 and run 3:1 unseen."""
    path = shipped_with(config_dir, "  replace: true", "  ratio: 3\n  replace: true")
    text = path.read_text()
    line, mapping = config_line(text, "ratio: 3"), config_line(text, "method: propensity")
    message = (
        f"{path}, line {line}, column 3: not valid YAML: the key 'ratio' is given twice (keep "
        f"one), while reading a mapping that starts on line {mapping} (the line reads 'ratio: 3')"
    )
    if command == "check-inputs":
        status, lines = run(capsys, "check-inputs", str(MINIMAL), "--config", str(path))
        assert (status, lines) == (1, [f"pl-eval check-inputs: error: {message}"])
    else:
        done = snakemake_dry_run(config_dir.parent)
        assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
        assert done.stderr.strip().splitlines()[-1] == message.replace(
            str(path), "config/config.yaml"
        )


def test_config_that_is_a_folder_or_missing(tmp_path, capsys):
    for name, what in {
        "config": "is a folder, not a file; give the path of a file",
        "nothing.yaml": "does not exist; check the path",
    }.items():
        (tmp_path / "config").mkdir(exist_ok=True)
        status, lines = run(capsys, "check-inputs", str(MINIMAL), "--config", str(tmp_path / name))
        assert (status, lines) == (1, [f"pl-eval check-inputs: error: {tmp_path}/{name}: {what}"])


def test_backwards_range_through_check_inputs(config_dir, capsys):
    path = shipped_with(config_dir, "rit_range: [100, 320]", "rit_range: [320, 100]")
    status, lines = run(capsys, "check-inputs", str(MINIMAL), "--config", str(path))
    assert (status, lines) == (
        1,
        [
            f"pl-eval check-inputs: error: {path}: ingest.screens.rit_range: [320, 100] is not "
            "allowed; expected [min, max] with min ≤ max"
        ],
    )


def snakemake_dry_run(workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s", str(ROOT / "Snakefile"),
         "-d", str(workdir)],
        capture_output=True, text=True, check=False, cwd=workdir,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  screens:\n",
            "  screens: x: y\n",
            "config/config.yaml, line {line}, column 13: not valid YAML: mapping values are not "
            "allowed here (the line reads 'screens: x: y')",
        ),
        (
            "rit_range: [100, 320]",
            "rit_range: [320, 100]",
            "config/config.yaml: ingest.screens.rit_range: [320, 100] is not allowed; expected "
            "[min, max] with min ≤ max",
        ),
    ],
    ids=["yaml-syntax", "backwards-range"],
)
def test_snakefile_stops_with_the_same_line(config_dir, old, new, message):
    path = shipped_with(config_dir, old, new)
    line = config_line(path.read_text(), new.strip())
    done = snakemake_dry_run(config_dir.parent)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == message.format(line=line)
