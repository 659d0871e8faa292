"""No telemetry, nothing written under HOME (issue 13, defect 13).

onnxruntime 1.32 starts its telemetry when its native module loads: it creates
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}``, or,
where HOME is read-only, prints a coloured warning line on stderr. Calling
``onnxruntime.disable_telemetry_events()`` after the import does not prevent either
(observed: both files still appear); ``ORT_DISABLE_TELEMETRY=1`` set before the
first import does, and ``signalpack.score.bundle.import_onnxruntime`` sets it.
The commands run in child processes with a fresh HOME and no ``XDG_CACHE_HOME`` or
``ORT_DISABLE_TELEMETRY`` inherited from this process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signalpack.score.bundle import DEFAULT_BUNDLE
from tests.conftest import GOOG

ROOT_USER = os.geteuid() == 0
# root writes through file permissions: drop the capabilities so a read-only HOME is read-only
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if ROOT_USER else []


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env["HOME"] = str(home)
    return env


def _files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def _commands(work: Path) -> dict[str, tuple[list[str], int]]:
    """name → (argv after `score`, expected exit code); `run_error` fails after onnxruntime has loaded."""
    (work / "prices.csv").write_bytes(GOOG.read_bytes())
    (work / "short.csv").write_text("\n".join(GOOG.read_text().splitlines()[:30]) + "\n")
    return {
        "run": (["run", str(work / "prices.csv"), "--output", str(work / "out.parquet"), "--overwrite"], 0),
        "verify": (["verify", str(DEFAULT_BUNDLE)], 0),
        "inspect": (["inspect", str(DEFAULT_BUNDLE)], 0),
        "run_error": (["run", str(work / "short.csv"), "--output", str(work / "short.parquet")], 2),
    }


def _score(argv: list[str], home: Path, prefix: list[str] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-c", "from signalpack.score.cli import main; main()", *argv],
                          capture_output=True, text=True, timeout=300, env=_env(home))


def _check_stderr(name: str, r: subprocess.CompletedProcess[str], code: int) -> None:
    assert r.returncode == code, (name, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    if name == "run":
        # the summary line, after at most the one drift warning line (GOOG is not the S&P 500 it was trained on)
        assert lines[-1].startswith("scored "), r.stderr
        assert lines[:-1] in ([], [next((x for x in lines if x.startswith("score: warning: drift: ")), "")]), r.stderr
    elif name == "run_error":
        assert len(lines) == 1 and lines[0].startswith("score: error: "), r.stderr
    else:
        assert lines == [], r.stderr
    assert "\x1b" not in r.stderr and "onnxruntime" not in r.stderr, r.stderr


def test_defect_13_read_only_home_no_warning_no_file(tmp_path):
    if ROOT_USER and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only HOME cannot be made read-only for root")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    home.chmod(0o555)
    try:
        for name, (argv, code) in _commands(work).items():
            r = _score(argv, home, NO_DAC)
            _check_stderr(name, r, code)
            assert _files(home) == [], name
    finally:
        home.chmod(0o755)


def test_defect_13_writable_home_gets_no_file(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for name, (argv, code) in _commands(work).items():
        _check_stderr(name, _score(argv, home), code)
    assert _files(home) == []  # no ~/.cache/Microsoft/DeveloperTools/.onnxruntime/...


def test_bare_onnxruntime_import_does_write_under_home(tmp_path):
    """The control: this onnxruntime does write telemetry files on import, so the tests above can see it."""
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-c", "import onnxruntime"], check=True, env=_env(home), timeout=120)
    found = _files(home)
    if not found:
        pytest.skip("this onnxruntime writes no telemetry files on import: the tests above hold trivially")
    assert any("onnxruntime" in f for f in found), found
