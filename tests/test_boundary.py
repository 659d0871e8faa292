"""Boundaries: the scorer is TensorFlow-free, and imports point one way.

    signalpack.errors / atomic  ← everything (neutral base)
    signalpack.score            ← everything; imports none of train, evaluation, export, cli
    signalpack.evaluation       ← train, export, cli; imports neither train nor export
    signalpack.train            ← export, cli; never imports export
    signalpack.export           ← cli only

The direction is read from the source (every ``import``, at any depth, lazy ones too),
so an import hidden inside a function cannot slip through.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys

import pytest

import signalpack.score as score
from tests.conftest import ROOT

FORBIDDEN = ("tensorflow", "keras", "sklearn", "tf2onnx", "skl2onnx", "onnx")
OURS = ("signalpack.train", "signalpack.export", "signalpack.evaluation", "signalpack.cli")
PACKAGE_FOLDERS = {"score": "signalpack.score", "train": "signalpack.train", "export": "signalpack.export",
                   "evaluation": "signalpack.evaluation", "schemas": "signalpack.schemas", "signalpack": "signalpack"}


def _imports(folder: str) -> list[tuple[str, int, str]]:
    """(file, line, imported module) for every import statement under ``folder``, relative ones resolved."""
    found = []
    package = PACKAGE_FOLDERS[folder]
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                names = [f"{base}.{a.name}" for a in node.names] if base in ("signalpack",) else [base]
                found += [(str(path.relative_to(ROOT)), node.lineno, n) for n in names]
    return found


def _offenders(folder: str, banned: tuple[str, ...]) -> list[str]:
    return [f"{f}:{line} imports {mod}" for f, line, mod in _imports(folder)
            if any(mod == b or mod.startswith(b + ".") for b in banned)]


@pytest.mark.parametrize(("folder", "banned"), [
    ("score", OURS + FORBIDDEN),
    ("evaluation", ("signalpack.train", "signalpack.export", "signalpack.cli")),
    ("train", ("signalpack.export", "signalpack.cli")),
    ("schemas", OURS + ("signalpack.score",)),
])
def test_imports_point_one_way(folder, banned):
    assert _offenders(folder, banned) == []


def test_the_direction_check_sees_lazy_imports(tmp_path, monkeypatch):
    """The checker itself: an import inside a function body is found."""
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "x.py").write_text("def f():\n    from signalpack.train import config\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _offenders("score", OURS) == ["score/x.py:2 imports signalpack.train"]


def test_no_bare_top_level_package_imports():
    """Every module imports our code as signalpack.*: a bare ``import score`` would load a second copy."""
    bare = [f"{f}:{line} imports {mod}" for folder in PACKAGE_FOLDERS for f, line, mod in _imports(folder)
            if mod.split(".")[0] in ("score", "train", "export", "schemas", "evaluation")]
    assert bare == []


def test_importing_every_score_module_keeps_training_stack_out():
    modules = sorted(m.name for m in pkgutil.walk_packages(score.__path__, "signalpack.score."))
    assert {"signalpack.score.io", "signalpack.score.contract", "signalpack.score.windows",
            "signalpack.score.cli", "signalpack.score.bundle"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r} or n.startswith({OURS!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"signalpack.score pulled in: {out.stdout.strip()}"


def test_score_cli_starts_without_training_stack():
    code = (
        "import sys\nfrom signalpack.score.cli import app\nfrom typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--version'])\nassert r.exit_code == 0, r.output\n"
        f"print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_scorer_computes_no_features():
    """Bundle format 2: the graph computes the features, so no scorer module but the shared reference
    implementation itself imports it (``score/features.py`` stays, for training and export's gates)."""
    users = sorted({f for f, _, mod in _imports("score") if mod == "signalpack.score.features"})
    assert users == []
    src = (ROOT / "score" / "runner.py").read_text(encoding="utf-8")
    assert "compute_features" not in src and "feature_spec" not in src
