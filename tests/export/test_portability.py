"""The bundle reproduces its golden vectors in onnxruntime 1.16.3 (IR <= 9, opset <= 19),
in a separate environment that has nothing of signalpack: only onnxruntime and numpy < 2; and
from JavaScript (onnxruntime-node), where docs/consumers/score_csv.js also scores a CSV exactly
like `score run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import GOOG, ROOT

CONSUMER = r'''
import base64, json, sys
import numpy as np, onnxruntime as ort
path = sys.argv[1]
sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
meta = sess.get_modelmeta().custom_metadata_map
manifest = json.loads(meta["signalpack.manifest"])
golden = json.loads(meta[manifest["golden"]["metadata_key"]])
def arr(d):
    dtype = {"float64": "<f8", "float32": "<f4", "int64": "<i8"}[d["dtype"]]
    return np.frombuffer(base64.b64decode(d["data"]), dtype=dtype).reshape(d["shape"])
inp = sess.get_inputs()[0]
ohlcv = arr(golden["inputs"]["ohlcv"])
names = [o.name for o in sess.get_outputs()]
got = dict(zip(names, sess.run(names, {"ohlcv": ohlcv})))
worst = max(float(np.abs(got[k] - arr(golden["outputs"][k])).max()) for k in ("probabilities", "confidence", "member_probabilities"))
same = bool((got["signal"] == arr(golden["outputs"]["signal"])).all())
print(json.dumps({"ort": ort.__version__, "max_abs_diff": worst, "signal_equal": same, "n": int(len(ohlcv)),
                  "atol": manifest["golden"]["atol"], "input": [inp.name, inp.type, inp.shape],
                  "golden_input": [str(ohlcv.dtype), list(ohlcv.shape)], "window_rows": manifest["window_rows"]}))
'''

JS_CONSUMER = ROOT / "docs" / "consumers" / "score_csv.js"
"""The JavaScript consumer the docs show; the node test runs this very file."""


def _score_run(bundle: Path, data: Path, out: Path):
    """The reference: `score run DATA --model BUNDLE -o OUT`, read back as a polars frame."""
    import polars as pl

    r = subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", "run", str(data),
                        "--model", str(bundle), "-o", str(out)], check=False, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return pl.read_parquet(out)


@pytest.mark.slow
def test_golden_vectors_reproduce_in_onnxruntime_1_16(tiny_export, tmp_path_factory):
    env = tmp_path_factory.mktemp("ort116") / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "onnxruntime==1.16.3", "numpy<2"],
                   check=True, capture_output=True, timeout=600)
    r = subprocess.run([str(py), "-c", CONSUMER, str(tiny_export.bundle)], check=False, capture_output=True, text=True,
                       timeout=120, cwd=env)
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["ort"] == "1.16.3"
    assert out["n"] == 32 and out["signal_equal"]
    assert out["max_abs_diff"] <= out["atol"]
    w = out["window_rows"]
    assert out["input"] == ["ohlcv", "tensor(double)", ["batch", w, 5]]
    assert out["golden_input"] == ["float64", [32, w, 5]]
    # signalpack itself is not importable there: the bundle alone is enough
    r = subprocess.run([str(py), "-c", "import signalpack"], check=False, capture_output=True, text=True, cwd=env)
    assert r.returncode != 0 and sys.prefix != str(env)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs Node.js and npm")
def test_javascript_consumer_checks_golden_and_scores_a_csv_like_score_run(tiny_export, tmp_path_factory):
    """Another language binding: onnxruntime-node 1.30 (refuses IR version 14, which onnx 1.23 writes by
    default) runs docs/consumers/score_csv.js: the golden vectors reproduce (float64 `ohlcv` input), and
    its scores of real daily bars equal `score run`'s on the same file: same timestamps, same signals,
    probabilities within 1e-5. Golden outputs the graph does not reproduce make it fail."""
    import base64
    import json

    import onnx

    work = tmp_path_factory.mktemp("ortnode")
    subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "onnxruntime-node@1.30.0"],
                   cwd=work, check=True, capture_output=True, timeout=600)
    # onnxruntime-node does not expose custom metadata: the golden JSON goes alongside, as a file
    meta = {p.key: p.value for p in onnx.load(str(tiny_export.bundle)).metadata_props}
    manifest = json.loads(meta["signalpack.manifest"])
    golden = work / "golden.json"
    golden.write_text(meta[manifest["golden"]["metadata_key"]])
    atol = str(manifest["golden"]["atol"])
    w = manifest["window_rows"]
    env = {**os.environ, "NODE_PATH": str(work / "node_modules")}

    def node(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["node", str(JS_CONSUMER), str(tiny_export.bundle), *args], cwd=work, check=False,
                              capture_output=True, text=True, timeout=300, env=env)

    # golden vectors only
    r = node(str(golden), "--atol", atol)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    g = json.loads(line)["golden"]
    assert g["ok"] and g["n"] == 32 and g["signal_equal"] and g["max_abs_diff"] <= float(atol)

    # real daily bars, W from the session's input metadata, against `score run` on the same file
    r = node(str(golden), str(GOOG), "--atol", atol)
    assert r.returncode == 0, r.stderr
    first, *rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert first["golden"]["ok"]
    ref = _score_run(tiny_export.bundle, GOOG, work / "ref.parquet")
    n_bars = len(GOOG.read_text(encoding="utf-8").splitlines()) - 1
    assert len(rows) == ref.height == n_bars - (w - 1)  # the first W-1 bars are warm-up
    assert [x["timestamp"] for x in rows] == [t.strftime("%Y-%m-%d") for t in ref["timestamp"]]
    assert [x["signal"] for x in rows] == [str(v) for v in ref["signal"]]
    got = np.array([x["probabilities"] for x in rows])
    want = ref.select("prob_sell", "prob_hold", "prob_buy").to_numpy().astype(np.float64)
    assert got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-5
    conf = np.array([x["confidence"] for x in rows])
    assert float(np.abs(conf - ref["confidence"].to_numpy()).max()) <= 1e-5

    # W given explicitly (for bindings without input metadata): same result; a W the graph disagrees with is refused
    r = node(str(golden), str(GOOG), "--window", str(w))
    assert r.returncode == 0, r.stderr
    assert [json.loads(x) for x in r.stdout.splitlines()][1:] == rows
    r = node(str(golden), str(GOOG), "--window", str(w + 1))
    assert r.returncode != 0 and "--window" in r.stderr

    # golden outputs the graph does not reproduce: exit 1, nothing scored
    bad = json.loads(golden.read_text())
    probs = bad["outputs"]["probabilities"]
    arr = np.frombuffer(base64.b64decode(probs["data"]), dtype="<f4").copy()
    arr[0] += 0.01  # far beyond the 1e-5 tolerance
    probs["data"] = base64.b64encode(arr.tobytes()).decode("ascii")
    corrupt = work / "corrupt_golden.json"
    corrupt.write_text(json.dumps(bad))
    r = node(str(corrupt), str(GOOG))
    assert r.returncode == 1 and "FAIL" in r.stderr
    (line,) = r.stdout.splitlines()
    assert not json.loads(line)["golden"]["ok"]
