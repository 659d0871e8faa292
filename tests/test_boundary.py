"""The scorer's TensorFlow-free boundary: importing anything under score/ loads no TF, Keras or sklearn."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import score

FORBIDDEN = ("tensorflow", "keras", "sklearn", "tf2onnx", "skl2onnx", "train", "export")


def test_importing_every_score_module_keeps_training_stack_out():
    modules = sorted(m.name for m in pkgutil.walk_packages(score.__path__, "score."))
    assert {"score.io", "score.features", "score.windows", "score.cli", "score.errors"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"score/ pulled in: {out.stdout.strip()}"


def test_score_cli_starts_without_training_stack():
    code = (
        "import sys\nfrom score.cli import app\nfrom typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--version'])\nassert r.exit_code == 0, r.output\n"
        f"print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
