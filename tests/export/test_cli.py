"""The training-side CLI for export, parity and demo: exit codes and messages."""

from __future__ import annotations

import json

import subprocess
import sys

import onnx
import pytest
from onnx import numpy_helper


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from signalpack.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_parity_cli_passes_and_fails(tiny_run, tiny_export, tmp_path):
    r = _cli("parity", str(tiny_run.run_dir), str(tiny_export.bundle), "--report", str(tmp_path / "p.json"))
    assert r.returncode == 0, r.stderr
    assert "PASSED" in r.stdout and (tmp_path / "p.json").is_file()

    m = onnx.load(str(tiny_export.bundle))
    init = next(i for i in m.graph.initializer if i.name == "head/weights")
    w = numpy_helper.to_array(init).copy()
    w[0, 0, 0] += 0.01
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(m.SerializeToString())
    r = _cli("parity", str(tiny_run.run_dir), str(bad))
    assert r.returncode == 1
    assert r.stderr.strip().startswith("signalpack: error: parity gate failed: probabilities: max abs diff")
    assert "✗ probabilities" in r.stdout and "Traceback" not in r.stderr


def test_export_cli_refuses_to_overwrite(tiny_run, tiny_export):
    r = _cli("export", str(tiny_run.run_dir), "--out", str(tiny_export.bundle))
    assert r.returncode == 2 and "already exists; pass --overwrite" in r.stderr


def test_export_cli_missing_run_dir(tmp_path):
    r = _cli("export", str(tmp_path / "nope"))
    assert r.returncode == 2 and "not a run directory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_demo_runs_the_main_job_end_to_end(tmp_path):
    out = tmp_path / "demo"
    r = _cli("demo", "--out", str(out), "--epochs", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert (out / "bundle.onnx").is_file() and (out / "bundle.parity.json").is_file()
    assert "verify: OK" in r.stdout and "PASSED" in r.stdout and "majority" in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].startswith("verdict: model skill ")  # the training summary opens with the verdict
    after_verify = lines[next(i for i, line in enumerate(lines) if line.startswith("verify: OK")) + 1:]
    assert next(line for line in after_verify if line.strip()).startswith("verdict ")  # and so does inspect
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["threshold"]["mode"] == "auto"
    if meta["simulation"]["strategy"]["n_trades"] == 0:  # trades with the auto threshold, or says why not
        assert any(line.startswith("  why no trades: ") for line in lines)
