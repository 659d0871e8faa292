"""The TensorFlow-free proof: `pip install .` (no extras) in a fresh venv runs the scorer on real data."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import EURUSD, ROOT

SCORER_BUDGET_MB = 400
"""The scorer-only install (`pip install .`, no extras) must fit in this many MB."""


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.mark.slow
def test_scorer_only_environment(tmp_path_factory, tiny_export):
    env = tmp_path_factory.mktemp("scorer") / "venv"
    venv.create(env, with_pip=True)
    bin_ = env / "bin"
    subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(ROOT)], check=True,
                   capture_output=True, timeout=900, cwd=env)
    work = env.parent
    data = work / "eurusd.csv"
    data.write_bytes(EURUSD.read_bytes())
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_ / "score"), *args], capture_output=True, text=True, timeout=300,
                              cwd=work, env=clean_env)

    r = run("run", str(data), "--summary", str(work / "s.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((work / "s.json").read_text())["rows_scored"] == 5000 - 58
    assert (work / "eurusd.signals.parquet").is_file()
    r = run("verify", str(tiny_export.bundle))
    assert r.returncode == 0 and "reproduces its 32 golden vectors" in r.stdout, r.stderr
    r = run("inspect", "--json", str(tiny_export.bundle))
    assert r.returncode == 0 and json.loads(r.stdout)["sha256"] == tiny_export.sha256
    r = run("verify", str(env.parent / "missing.onnx"))
    assert r.returncode == 2

    probe = (
        "import importlib.util, json, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
        "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in "
        "('tensorflow', 'keras', 'sklearn', 'tf2onnx', 'skl2onnx', 'onnx', 'polars', 'onnxruntime', 'signalpack', "
        "'signalpack.score', 'train', 'export', 'score', 'schemas', 'evaluation')}))"
    )
    r = subprocess.run([str(bin_ / "python"), "-c", probe], capture_output=True, text=True, cwd=work, env=clean_env)
    found = json.loads(r.stdout)
    assert not any(found[m] for m in ("tensorflow", "keras", "sklearn", "tf2onnx", "skl2onnx", "onnx")), found
    assert found["signalpack"] and found["signalpack.score"] and found["polars"] and found["onnxruntime"]
    # one namespace: nothing of ours lands in site-packages under a bare, collision-prone name
    assert not any(found[m] for m in ("train", "export", "score", "schemas", "evaluation")), found
    site = next((env / "lib").glob("python3*/site-packages"))
    ours = sorted(p.name for p in site.iterdir() if p.name in ("train", "export", "score", "schemas", "evaluation"))
    assert ours == [] and (site / "signalpack" / "score" / "contract.py").is_file()
    size_mb = _du(env) / 2**20
    print(f"\nscorer-only environment: {size_mb:.0f} MB installed")
    assert size_mb <= SCORER_BUDGET_MB
