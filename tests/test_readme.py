"""The README keeps its promises: the receive-a-bundle snippet runs as printed (golden check, and
scoring a CSV exactly like `score run`), the two fresh-machine commands are there (and CI runs
the test one), and every relative link resolves."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signalpack.score.bundle import DEFAULT_BUNDLE
from tests.conftest import GOOG

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- receive-a-bundle snippet: tested verbatim by tests/test_readme.py -->"
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q '.[train]' && .venv/bin/signalpack demo"
TEST_COMMAND = ("python3 -m venv .venv && .venv/bin/pip install -q -e '.[train,dev,spark]' "
                "&& .venv/bin/python -m pytest -q")
MAX_LINES = 200


def _snippet() -> str:
    """The fenced ```python block right after the marker comment, verbatim."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert MARKER in lines, "the receive-a-bundle marker comment is missing from README.md"
    i = lines.index(MARKER) + 1
    assert lines[i].strip() == "```python", "the marker must be followed directly by a ```python block"
    end = lines.index("```", i + 1)
    return "\n".join(lines[i + 1:end]) + "\n"


def _run(script: Path, *args: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          check=False, env=env, cwd=cwd, timeout=120)


def _write_snippet(tmp_path: Path) -> Path:
    script = tmp_path / "check_bundle.py"
    script.write_text(_snippet(), encoding="utf-8")
    return script


def score_run(bundle: Path, data: Path, out: Path):
    """The reference: `score run DATA --model BUNDLE -o OUT`, read back as a polars frame."""
    import polars as pl

    r = subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", "run", str(data),
                        "--model", str(bundle), "-o", str(out)], check=False, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return pl.read_parquet(out)


def test_receive_a_bundle_snippet_runs_verbatim(tmp_path):
    code = _snippet()

    # only numpy, onnxruntime and the standard library
    roots = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in the snippet"
            roots.add(node.module.split(".")[0])
    assert roots, "the snippet imports nothing?"
    foreign = {r for r in roots if r not in sys.stdlib_module_names and r not in {"numpy", "onnxruntime"}}
    assert not foreign, f"the snippet imports more than numpy, onnxruntime and the standard library: {foreign}"

    script = _write_snippet(tmp_path)

    # the shipped bundle, golden check only (no CSV argument)
    r = _run(script, DEFAULT_BUNDLE, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    assert len(r.stdout.splitlines()) == 1, "without a CSV the snippet only checks the golden vectors"

    # A copy whose golden outputs no longer match the graph: the snippet must fail on it.
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(DEFAULT_BUNDLE))
    props = {p.key: p for p in model.metadata_props}
    manifest = json.loads(props["signalpack.manifest"].value)
    golden_prop = props[manifest["golden"]["metadata_key"]]
    golden = json.loads(golden_prop.value)
    probs = golden["outputs"]["probabilities"]
    arr = np.frombuffer(base64.b64decode(probs["data"]), dtype="<f4").copy()
    arr[0] += 0.01  # far beyond the 1e-5 tolerance
    probs["data"] = base64.b64encode(arr.tobytes()).decode("ascii")
    golden_prop.value = json.dumps(golden)
    corrupt = tmp_path / "corrupt.onnx"
    onnx.save(model, str(corrupt))

    r = _run(script, corrupt, GOOG, cwd=tmp_path)
    assert r.returncode != 0, r.stdout
    assert "OK" not in r.stdout
    assert "FAIL: probabilities" in r.stderr
    assert r.stdout.strip() == "", "signals printed from a bundle that failed its golden check"


@pytest.mark.parametrize("which", ["shipped", "tiny_export"])
def test_receive_a_bundle_snippet_scores_a_csv_like_score_run(which, request, tmp_path):
    """The snippet, verbatim, on real daily bars with the shipped bundle and a freshly exported one:
    same bars scored, same signals, probabilities within 1e-5 of `score run` on the same file."""
    bundle = DEFAULT_BUNDLE if which == "shipped" else request.getfixturevalue("tiny_export").bundle
    script = _write_snippet(tmp_path)
    r = _run(script, bundle, GOOG, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first, *lines = r.stdout.splitlines()
    assert first.startswith("OK: 4 outputs reproduce the golden vectors")
    rows = [line.split() for line in lines]
    assert rows and all(len(row) == 5 for row in rows), lines[:3]

    ref = score_run(bundle, GOOG, tmp_path / "ref.parquet")
    w = json.loads(_manifest_text(bundle))["window_rows"]
    n_bars = len(GOOG.read_text(encoding="utf-8").splitlines()) - 1
    assert ref.height == len(rows) == n_bars - (w - 1)  # warm-up: the first W-1 bars
    assert [row[0] for row in rows] == [t.strftime("%Y-%m-%d") for t in ref["timestamp"]]
    assert [row[1] for row in rows] == [str(s) for s in ref["signal"]]
    got = np.array([[float(x) for x in row[2:]] for row in rows])
    want = ref.select("prob_sell", "prob_hold", "prob_buy").to_numpy().astype(np.float64)
    assert float(np.abs(got - want).max()) <= 1e-5


def _manifest_text(bundle: Path) -> str:
    onnx = pytest.importorskip("onnx")
    return {p.key: p.value for p in onnx.load(str(bundle)).metadata_props}["signalpack.manifest"]


def test_readme_has_the_two_fresh_machine_commands_and_fits():
    text = README.read_text(encoding="utf-8")
    n_lines = len(text.splitlines())
    assert n_lines <= MAX_LINES, f"README.md has {n_lines} lines; the limit is {MAX_LINES}"
    lines = [line.strip() for line in text.splitlines()]
    assert DEMO_COMMAND in lines
    assert TEST_COMMAND in lines
    assert ".venv/bin/python -m pytest -q" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _relative_links(md: Path) -> list[str]:
    text = FENCE.sub("", md.read_text(encoding="utf-8"))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # http(s)://, mailto:, in-page anchors
        targets.append(target)
    return targets


def test_readme_links_resolve():
    missing = []
    for md in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in _relative_links(md):
            if not (md.parent / target.split("#", 1)[0]).exists():
                missing.append(f"{md.relative_to(ROOT)} → {target}")
    assert not missing, f"links to missing files: {missing}"


def test_headline_figures_are_the_default_bundles():
    """The README's "What the default model shows" figures are read from the shipped bundle's manifest,
    so a regenerated default bundle with other figures fails here until the README is updated."""
    from signalpack.score.bundle import load_bundle

    m = load_bundle(DEFAULT_BUNDLE).manifest
    text = " ".join(README.read_text(encoding="utf-8").split())  # one line: figures may wrap
    iv = m["metrics"]["intervals"]
    ba = iv["ensemble"]["balanced_accuracy"]
    base = m["metrics"]["baselines"]
    vol = iv["differences"]["volatility_only"]["balanced_accuracy"]
    strategy = m["metrics"]["simulation"]["strategy"]
    verdict = m["verdict"]

    def pts(x: float) -> str:
        return f"{100 * x:+.1f}".replace("-", "−")

    for needle in (
        f"{m['training_data']['segments']['test']['windows']} windows",
        f"balanced accuracy {100 * ba['estimate']:.1f} % [{100 * ba['low']:.1f}, {100 * ba['high']:.1f}]",
        f"{100 * base['majority']['balanced_accuracy']:.1f} % for the majority class",
        f"{100 * base['stratified_random']['balanced_accuracy']:.1f} % for stratified random",
        f"{100 * base['volatility_only']['balanced_accuracy']:.1f} % for a logistic regression on volatility alone",
        f"{pts(vol['estimate'])} points [{pts(vol['low'])}, {pts(vol['high'])}]",
        f"`model_skill: {str(verdict['model_skill']).lower()}`",
        f"`strategy_skill: {str(verdict['strategy_skill']).lower()}`",
        f"threshold chosen on validation ({m['confidence_threshold']:g})",
        f"made {strategy['n_trades']} trades",
        f"returned {100 * strategy['total_return']:+.1f} %",
        f"{100 * m['metrics']['simulation']['buy_and_hold']['total_return']:+.1f} % for buy-and-hold",
    ):
        assert needle in text, f"README headline figure {needle!r} is not the default bundle's"
