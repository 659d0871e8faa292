"""`score run`'s outputs under hostile conditions (issue 13): the summary as an output,
special files, a real full disk, concurrent runs, long names, real signals.

Every case runs the real CLI in a child process and uses the real condition: a
tmpfs of 1 MB, two racing processes, SIGINT/SIGTERM sent from here, private
device nodes and symlinks (never the machine's own /dev/null or /dev/stdout, which
a regression would replace).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from signalpack.atomic import TMP_MARK, temp_path
from signalpack.score.bundle import DEFAULT_BUNDLE
from tests.conftest import GOOG
from tests.test_reliability import _scale_file

SCORE = [sys.executable, "-c", "from signalpack.score.cli import main; main()"]
ROOT_USER = os.geteuid() == 0


def _score(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCORE, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def _refused(r: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    """Exit ``code``, exactly one stderr line "score: error: ..." holding the needles, no traceback."""
    assert r.returncode == code, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("score: error: ") and "Traceback" not in r.stderr + r.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TMP_MARK))


@pytest.fixture
def work(tmp_path) -> Path:
    (tmp_path / "prices.csv").write_bytes(GOOG.read_bytes())
    return tmp_path


# ---- defect 1: the summary is an output, never the input, the output or the bundle


@pytest.mark.parametrize("spelling", ["same", "dotted", "hard link"])
def test_defect_01_summary_may_not_overwrite_input(work, spelling):
    src = work / "prices.csv"
    before = src.read_bytes()
    if spelling == "same":
        summary = src
    elif spelling == "dotted":
        (work / "sub").mkdir()
        summary = work / "sub" / ".." / "prices.csv"
    else:
        summary = work / "alias.csv"
        os.link(src, summary)
    line = _refused(_score("run", src, "--summary", summary, "--overwrite"), "is the input", "--summary")
    assert line.startswith(f"score: error: {summary}: ")
    assert src.read_bytes() == before
    assert not (work / "prices.signals.parquet").exists() and not _temps(work)


@pytest.mark.parametrize("explicit", [True, False])
def test_defect_01_summary_may_not_overwrite_output(work, explicit):
    out = work / ("o.parquet" if explicit else "prices.signals.parquet")
    args = ["--output", out] if explicit else []
    _refused(_score("run", work / "prices.csv", *args, "--summary", out, "--overwrite"), str(out), "is the --output")
    assert not out.exists() and not _temps(work)


def test_defect_01_summary_and_output_may_not_overwrite_the_bundle(work):
    bundle = work / "model.onnx"
    shutil.copy(DEFAULT_BUNDLE, bundle)
    before = bundle.read_bytes()
    _refused(_score("run", work / "prices.csv", "--model", bundle, "--summary", bundle, "--overwrite"), "is the bundle")
    _refused(_score("run", work / "prices.csv", "--model", bundle, "--output", bundle, "--overwrite"), "is the bundle")
    _refused(_score("run", work / "prices.csv", "--output", work / "prices.csv", "--overwrite"), "is the input")
    assert bundle.read_bytes() == before and sorted(p.name for p in work.iterdir()) == ["model.onnx", "prices.csv"]


def test_defect_01_an_existing_summary_is_replaced_only_with_overwrite(work):
    summary = work / "s.json"
    summary.write_text("yesterday's")
    _refused(_score("run", work / "prices.csv", "--summary", summary), f"{summary}: already exists; pass --overwrite")
    assert summary.read_text() == "yesterday's" and not (work / "prices.signals.parquet").exists()
    r = _score("run", work / "prices.csv", "--summary", summary, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert json.loads(summary.read_text())["rows_read"] == 2148


# ---- defect 2: symlinks and special files at a destination are refused, not replaced


def _private_devnull(work: Path) -> Path:
    """A character device like /dev/null (1, 3) inside the test folder as root, else a FIFO."""
    p = work / "null"
    try:
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        os.mkfifo(p)
    return p


def test_defect_02_output_onto_a_device_is_refused(work):
    null = _private_devnull(work)
    kind = "character device" if stat.S_ISCHR(null.lstat().st_mode) else "FIFO"
    _refused(_score("run", work / "prices.csv", "--output", null, "--overwrite"), f"{null}: is a {kind}")
    _refused(_score("run", work / "prices.csv", "--summary", null, "--overwrite"), f"{null}: is a {kind}")
    assert stat.S_IFMT(null.lstat().st_mode) in (stat.S_IFCHR, stat.S_IFIFO)
    assert not (work / "prices.signals.parquet").exists() and not _temps(work)


def test_defect_02_summary_onto_a_symlink_like_dev_stdout_is_refused(work):
    stdout = work / "stdout"
    stdout.symlink_to("/proc/self/fd/1")  # what /dev/stdout is
    _refused(_score("run", work / "prices.csv", "--summary", stdout, "--overwrite"), f"{stdout}: is a symbolic link")
    assert stdout.is_symlink() and os.readlink(stdout) == "/proc/self/fd/1"
    target = work / "real.parquet"
    target.write_text("keep")
    link = work / "link.parquet"
    link.symlink_to(target)
    _refused(_score("run", work / "prices.csv", "--output", link, "--overwrite"), f"{link}: is a symbolic link")
    assert link.is_symlink() and target.read_text() == "keep"
    assert not (work / "prices.signals.parquet").exists() and not _temps(work)


# ---- defect 3: every destination is checked before any work


@pytest.mark.parametrize("where", ["missing folder", "is a folder"])
def test_defect_03_bad_summary_is_refused_before_scoring(work, where):
    summary = work / "no" / "s.json" if where == "missing folder" else work
    needle = "does not exist" if where == "missing folder" else "is a directory"
    t = time.monotonic()
    _refused(_score("run", work / "prices.csv", "--summary", summary), needle)
    assert not (work / "prices.signals.parquet").exists(), "the output was written before the summary was checked"
    assert not _temps(work) and time.monotonic() - t < 60


# ---- defect 9: a real full disk


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({(r.stderr or r.stdout).strip() or r.returncode}); "
                    "the full-disk test needs root or CAP_SYS_ADMIN")


@pytest.fixture
def full_disk(tmp_path):
    """A real 1 MB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "tmpfs"
    _mount_tmpfs(mnt, "1m")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


@pytest.fixture(scope="module")
def scale_inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scale")
    files = {"21k": (7, 0), "24k": (8, 1), "60k": (20, 2), "120k": (40, 3)}
    out = {}
    for name, (symbols, seed) in files.items():
        out[name] = folder / f"{name}.parquet"
        _scale_file(out[name], symbols=symbols, seed=seed)
    return out


def test_defect_09_disk_full_while_writing_parts(full_disk, scale_inputs):
    """120k rows (~1.6 MB of scores) into 1 MB: ENOSPC in a part write, one line naming the destination."""
    out = full_disk / "signals.parquet"
    r = _score("run", scale_inputs["120k"], "--output", out, "--chunk-rows", "10000")
    line = _refused(r)
    assert line == f"score: error: {out}: cannot write (No space left on device)"
    assert list(full_disk.iterdir()) == []  # no output, no temporary file, no .parts folder


@pytest.mark.slow
def test_defect_09_disk_full_during_the_final_combine(full_disk, scale_inputs):
    """60k rows (~0.8 MB): the parts fit in 1 MB, the combined file beside them does not."""
    out = full_disk / "signals.parquet"
    code = ("import sys, signalpack.score.runner as r\n"
            "orig = r._combine\n"
            "def spy(files, tmp):\n"
            "    print('combine', file=sys.stdout, flush=True)\n"
            "    return orig(files, tmp)\n"
            "r._combine = spy\n"
            "from signalpack.score.cli import main; main()\n")
    r = subprocess.run([sys.executable, "-c", code, "run", str(scale_inputs["60k"]), "--output", str(out),
                        "--chunk-rows", "10000"], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "combine", "the disk filled before the final combine: resize the input"
    line = _refused(r)
    assert line == f"score: error: {out}: cannot write (No space left on device)"  # the destination, not the temp file
    assert list(full_disk.iterdir()) == []


@pytest.mark.slow
def test_defect_09_old_output_survives_a_full_disk(full_disk, scale_inputs):
    out = full_disk / "signals.parquet"
    out.write_bytes(b"PAR1 yesterday's complete output")
    _refused(_score("run", scale_inputs["120k"], "--output", out, "--overwrite", "--chunk-rows", "10000"),
             "No space left on device")
    assert out.read_bytes() == b"PAR1 yesterday's complete output" and list(full_disk.iterdir()) == [out]


# ---- defect 10: two runs racing for one --output


def _wait_for_parts(folder: Path, proc: subprocess.Popen, owner: int, timeout: float = 120) -> None:
    """Until ``proc`` (pid ``owner``) has a parts folder beside its output (it passed every check and is writing)."""
    deadline = time.monotonic() + timeout
    while not any(p.name.startswith(f"{TMP_MARK}{owner}-") and p.name.endswith(".parts") for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)


def test_defect_10_concurrent_runs_to_one_output_one_wins_one_is_refused(tmp_path, scale_inputs):
    """Both runs pass the "already exists" check (A is paused, with SIGSTOP, until B is writing too):
    exactly one exits 0, the other 2, and the file is the winner's complete output."""
    out = tmp_path / "signals.parquet"
    inputs = {"A": scale_inputs["21k"], "B": scale_inputs["24k"]}
    procs: dict[str, subprocess.Popen] = {}
    for me in ("A", "B"):
        procs[me] = subprocess.Popen([*SCORE, "run", str(inputs[me]), "--output", str(out), "--chunk-rows", "5000",
                                      "--summary", str(tmp_path / f"{me}.json")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_parts(tmp_path, procs[me], procs[me].pid)
        if me == "A":
            procs[me].send_signal(signal.SIGSTOP)
    procs["A"].send_signal(signal.SIGCONT)
    results = {me: (p.wait(timeout=300), p.communicate()[1]) for me, p in procs.items()}
    assert sorted(code for code, _ in results.values()) == [0, 2], results
    winner = next(me for me, (code, _) in results.items() if code == 0)
    loser = "B" if winner == "A" else "A"
    assert results[loser][1].strip() == (f"score: error: {out}: already exists (written by another run meanwhile); "
                                        "pass --overwrite to replace it")
    scored = json.loads((tmp_path / f"{winner}.json").read_text())["rows_scored"]
    assert pl.read_parquet(out).height == scored  # complete, and the winner's (A and B differ in length)
    assert not (tmp_path / f"{loser}.json").exists() and not _temps(tmp_path)


# ---- defect 11: long names


def test_defect_11_a_248_character_output_name_is_written(work):
    out = work / ("s" * 240 + ".parquet")
    summary = work / ("m" * 243 + ".json")
    r = _score("run", work / "prices.csv", "--output", out, "--summary", summary)
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(out).height == 2090 and json.loads(summary.read_text())["rows_scored"] == 2090
    assert not _temps(work)


def test_defect_11_a_268_character_output_name_is_one_line(work):
    out = work / ("s" * 260 + ".parquet")
    _refused(_score("run", work / "prices.csv", "--output", out), f"{out}: the file name is too long (268 bytes")
    assert sorted(p.name for p in work.iterdir()) == ["prices.csv"]


# ---- defect 16: real signals, stale temporaries


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    """1.2M rows (400 symbols × 3,000 bars): ~40 s to score on 2 cores, so signals land mid-run."""
    p = tmp_path_factory.mktemp("big") / "prices.parquet"
    _scale_file(p, symbols=400)
    return p


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("old_output", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["fresh", "replacing"])
def test_defect_16_signal_while_writing_parts_leaves_nothing(tmp_path, big_input, signum, code, word, old_output):
    out = tmp_path / "signals.parquet"
    if old_output:
        out.write_bytes(b"PAR1 yesterday's complete output")
    p = subprocess.Popen([*SCORE, "run", str(big_input), "--output", str(out), "--chunk-rows", "20000", "--overwrite"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(d.name.endswith(".parts") and any(d.iterdir()) for d in tmp_path.iterdir() if d.is_dir()):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    p.send_signal(signum)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert err.splitlines() == [f"score: {word}"]
    assert sorted(x.name for x in tmp_path.iterdir()) == (["signals.parquet"] if old_output else [])
    if old_output:
        assert out.read_bytes() == b"PAR1 yesterday's complete output"


def test_defect_16_stale_temporaries_of_any_output_are_removed_by_the_next_run(work):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)

    def of(name: str, suffix: str = "") -> Path:
        mine = temp_path(work / name, suffix)
        return work / (f"{TMP_MARK}{pid}" + mine.name[len(f"{TMP_MARK}{os.getpid()}"):])

    stale_file, stale_parts = of("last_night.parquet"), of("last_night.parquet", ".parts")
    stale_file.write_bytes(b"half")
    stale_parts.mkdir()
    (stale_parts / "part-000000.parquet").write_bytes(b"half")
    r = _score("run", work / "prices.csv", "--output", work / "tonight.parquet")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in work.iterdir()) == ["prices.csv", "tonight.parquet"]


@pytest.mark.slow
def test_defect_16_signalpack_train_sigterm_removes_its_run_directory(tmp_path):
    """The training CLI shares run_app: SIGTERM mid-training is one line, exit 143, no run directory left."""
    p = subprocess.Popen([sys.executable, "-c", "from signalpack.cli import main; main()", "train", str(GOOG),
                          "--out", str(tmp_path / "run"), "--epochs", "1", "-q"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(d.name.startswith(TMP_MARK) and (d / "train.log").exists() for d in tmp_path.iterdir()):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # into the training proper
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert err.splitlines() == ["signalpack: terminated"]
    assert list(tmp_path.iterdir()) == []
