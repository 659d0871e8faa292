"""Builders for the bad-input table's "output side" rows (tests/test_bad_inputs.py, issue 13):
destinations that are special files, symlinks, too long, or another argument of the run."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from tests.conftest import GOOG


def prices(work: Path, name: str = "ok.csv") -> Path:
    p = work / name
    p.write_bytes(GOOG.read_bytes())
    return p


def existing(work: Path, name: str, text: str = "yesterday's") -> Path:
    p = work / name
    p.write_text(text)
    return p


def device(work: Path) -> Path:
    """A private /dev/null (character device 1, 3) as root, else a FIFO: never the machine's own."""
    p = work / "null"
    try:
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        os.mkfifo(p)
    return p


def symlink(work: Path, name: str) -> Path:
    """``name`` → a regular file beside it (an output must not replace the link, nor write through it)."""
    existing(work, "target.txt", "keep")
    link = work / name
    link.symlink_to("target.txt")
    return link


def bundle_copy(bundle: Path, work: Path) -> Path:
    p = work / "model.onnx"
    shutil.copy(bundle, p)
    return p


def run(work: Path, *args: str | Path) -> list[str]:
    return ["run", str(prices(work)), *map(str, args)]
