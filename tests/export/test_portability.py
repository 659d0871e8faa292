"""The bundle reproduces its golden vectors in onnxruntime 1.16.3 (IR <= 9, opset <= 19),
in a separate environment that has nothing of signalpack: only onnxruntime and numpy < 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

CONSUMER = r'''
import base64, json, sys
import numpy as np, onnxruntime as ort
path = sys.argv[1]
sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
meta = sess.get_modelmeta().custom_metadata_map
manifest = json.loads(meta["signalpack.manifest"])
golden = json.loads(meta[manifest["golden"]["metadata_key"]])
def arr(d):
    return np.frombuffer(base64.b64decode(d["data"]), dtype={"float32": "<f4", "int64": "<i8"}[d["dtype"]]).reshape(d["shape"])
feats = arr(golden["inputs"]["features"])
names = [o.name for o in sess.get_outputs()]
got = dict(zip(names, sess.run(names, {"features": feats})))
worst = max(float(np.abs(got[k] - arr(golden["outputs"][k])).max()) for k in ("probabilities", "confidence", "member_probabilities"))
same = bool((got["signal"] == arr(golden["outputs"]["signal"])).all())
print(json.dumps({"ort": ort.__version__, "max_abs_diff": worst, "signal_equal": same, "n": int(len(feats)), "atol": manifest["golden"]["atol"]}))
'''


@pytest.mark.slow
def test_golden_vectors_reproduce_in_onnxruntime_1_16(tiny_export, tmp_path_factory):
    env = tmp_path_factory.mktemp("ort116") / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "onnxruntime==1.16.3", "numpy<2"],
                   check=True, capture_output=True, timeout=600)
    r = subprocess.run([str(py), "-c", CONSUMER, str(tiny_export.bundle)], capture_output=True, text=True,
                       timeout=120, cwd=env)
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["ort"] == "1.16.3"
    assert out["n"] == 32 and out["signal_equal"]
    assert out["max_abs_diff"] <= out["atol"]
    # signalpack itself is not importable there: the bundle alone is enough
    r = subprocess.run([str(py), "-c", "import signalpack"], capture_output=True, text=True, cwd=env)
    assert r.returncode != 0 and sys.prefix != str(env)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs Node.js and npm")
def test_golden_vectors_reproduce_in_onnxruntime_node(tiny_export, tmp_path_factory):
    """Another language binding: onnxruntime-node 1.30 (refuses IR version 14, which onnx 1.23 writes by default)."""
    import json

    import onnx

    work = tmp_path_factory.mktemp("ortnode")
    subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "onnxruntime-node@1.30.0"],
                   cwd=work, check=True, capture_output=True, timeout=600)
    m = onnx.load(str(tiny_export.bundle))
    golden = work / "golden.json"
    golden.write_text({p.key: p.value for p in m.metadata_props}["signalpack.golden"])
    script = Path(__file__).with_name("ort_node_consumer.js")
    r = subprocess.run(["node", str(script), str(tiny_export.bundle), str(golden)], cwd=work,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "NODE_PATH": str(work / "node_modules")})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 32 and out["signal_equal"] and out["max_abs_diff"] <= 1e-5
