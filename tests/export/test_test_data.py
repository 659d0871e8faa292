"""The ONNX test-data folder written beside a bundle (``<bundle>.test_data/test_data_set_0/``:
``input_0.pb``, ``output_0.pb``..``output_3.pb``) is checkable with stock ONNX tooling alone:
``onnx.load_tensor`` + ``onnx.numpy_helper``, onnxruntime, and the model-zoo loader and output
comparison of ``onnx.backend.test``."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper

N_OUTPUTS = 4


def _manifest_and_golden(model) -> tuple[dict, dict]:
    props = {p.key: p.value for p in model.metadata_props}
    manifest = json.loads(props["signalpack.manifest"])
    return manifest, json.loads(props[manifest["golden"]["metadata_key"]])


def _golden_array(d: dict) -> np.ndarray:
    dtype = {"float64": "<f8", "float32": "<f4", "int64": "<i8"}[d["dtype"]]
    return np.frombuffer(base64.b64decode(d["data"]), dtype=dtype).reshape(d["shape"])


def _data_set(tiny_export) -> Path:
    folder = Path(tiny_export.test_data)
    bundle = Path(tiny_export.bundle)
    assert folder == bundle.with_name(bundle.name.removesuffix(".onnx") + ".test_data")
    assert sorted(p.name for p in folder.iterdir()) == ["test_data_set_0"]
    return folder / "test_data_set_0"


def test_test_data_loads_with_onnx_and_reproduces_in_onnxruntime(tiny_export):
    import onnxruntime as ort

    data_set = _data_set(tiny_export)
    assert sorted(p.name for p in data_set.iterdir()) == ["input_0.pb"] + [f"output_{i}.pb" for i in range(N_OUTPUTS)]

    model = onnx.load(str(tiny_export.bundle))
    manifest, golden = _manifest_and_golden(model)
    atol = float(manifest["golden"]["atol"])
    graph_inputs, graph_outputs = list(model.graph.input), list(model.graph.output)
    assert len(graph_inputs) == 1 and len(graph_outputs) == N_OUTPUTS

    # input_0.pb: the graph's one input, by name, dtype and shape
    x_proto = onnx.load_tensor(str(data_set / "input_0.pb"))
    assert x_proto.name == graph_inputs[0].name == "ohlcv"
    assert x_proto.data_type == graph_inputs[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = numpy_helper.to_array(x_proto)
    assert x.dtype == np.float64 and x.shape == (manifest["golden"]["count"], manifest["window_rows"], 5)

    # output_<i>.pb: the graph's outputs in graph order, by name and dtype
    expected = []
    for i, out in enumerate(graph_outputs):
        t = onnx.load_tensor(str(data_set / f"output_{i}.pb"))
        assert t.name == out.name, (i, t.name, out.name)
        assert t.data_type == out.type.tensor_type.elem_type
        a = numpy_helper.to_array(t)
        assert a.dtype == helper.tensor_dtype_to_np_dtype(t.data_type) and a.shape[0] == x.shape[0]
        expected.append(a)
    assert [o.name for o in graph_outputs] == ["probabilities", "signal", "confidence", "member_probabilities"]

    # run the bundle on input_0 and compare with output_<i> within the manifest's tolerance
    session = ort.InferenceSession(str(tiny_export.bundle), providers=["CPUExecutionProvider"])
    got = session.run([o.name for o in graph_outputs], {x_proto.name: x})
    for out, g, want in zip(graph_outputs, got, expected, strict=True):
        assert g.shape == want.shape and g.dtype == want.dtype, out.name
        if want.dtype.kind in "iu":
            assert np.array_equal(g, want), out.name
        else:
            assert float(np.abs(g - want).max()) <= atol, out.name

    # the same windows and reference outputs as the golden vectors in the bundle's metadata
    assert np.array_equal(x, _golden_array(golden["inputs"]["ohlcv"]))
    for out, want in zip(graph_outputs, expected, strict=True):
        assert np.array_equal(want, _golden_array(golden["outputs"][out.name])), out.name


@pytest.mark.filterwarnings("ignore:onnx.version is deprecated:DeprecationWarning")  # onnxruntime.backend's import
def test_test_data_runs_under_onnx_backend_test_loader(tiny_export, tmp_path):
    """The folder in the layout ``onnx.backend.test.loader.load_model_tests`` reads (one case folder
    holding model.onnx, data.json and test_data_set_*), run through onnxruntime's ONNX backend and
    compared with ``onnx.backend.test.runner.Runner.assert_similar_outputs``."""
    import onnxruntime.backend as ort_backend
    from onnx.backend.test.loader import load_model_tests
    from onnx.backend.test.runner import Runner

    model = onnx.load(str(tiny_export.bundle))
    manifest, _ = _manifest_and_golden(model)
    atol = float(manifest["golden"]["atol"])

    case_dir = tmp_path / "data" / "signalpack" / "test_bundle"
    case_dir.mkdir(parents=True)
    os.symlink(Path(tiny_export.bundle).resolve(), case_dir / "model.onnx")
    os.symlink(_data_set(tiny_export).resolve(), case_dir / "test_data_set_0", target_is_directory=True)
    (case_dir / "data.json").write_text(json.dumps({"atol": atol, "rtol": 0.0}))

    (case,) = load_model_tests(data_dir=str(tmp_path / "data"), kind="signalpack")
    assert case.name == "test_bundle" and case.model_dir == str(case_dir) and case.url is None
    assert case.atol == atol and case.rtol == 0.0

    loaded = onnx.load(os.path.join(case.model_dir, "model.onnx"))
    assert ort_backend.is_compatible(loaded)
    rep = ort_backend.prepare(loaded, "CPU")
    data_sets = sorted(Path(case.model_dir).glob("test_data_set_*"))
    assert [d.name for d in data_sets] == ["test_data_set_0"]
    for d in data_sets:
        inputs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(d.glob("input_*.pb"))]
        refs = [numpy_helper.to_array(onnx.load_tensor(str(d / f"output_{i}.pb")))
                for i in range(len(list(d.glob("output_*.pb"))))]
        assert len(inputs) == len(loaded.graph.input) == 1 and len(refs) == len(loaded.graph.output) == N_OUTPUTS
        Runner.assert_similar_outputs(refs, list(rep.run(inputs)), rtol=case.rtol, atol=case.atol,
                                      model_dir=case.model_dir)

    # the comparison is not vacuous: a shifted reference fails it
    bad = [r.copy() for r in refs]
    bad[0][0, 0] += 10 * atol
    with pytest.raises(AssertionError):
        Runner.assert_similar_outputs(bad, list(rep.run(inputs)), rtol=case.rtol, atol=case.atol)
