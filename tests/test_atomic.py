"""signalpack.atomic: one temp-name scheme and one "already exists" rule for files and folders."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from signalpack.atomic import TMP_MARK, atomic_dir, atomic_path, atomic_write_bytes, clean_stale, temp_path
from signalpack.errors import OutputError, OutputExistsError


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


def test_file_is_written_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        assert tmp.name.startswith(TMP_MARK)
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    atomic_write_bytes(dest, b"whole")
    assert dest.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [dest]


def test_folder_is_written_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "report"
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
        assert tmp.is_dir() and tmp.name.startswith(TMP_MARK)
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("whole")
    assert (dest / "a.txt").read_text() == "whole" and list(tmp_path.iterdir()) == [dest]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_one_already_exists_error(tmp_path, kind):
    dest = tmp_path / "x"
    dest.mkdir() if kind == "folder" else dest.write_text("old")
    ctx = atomic_dir(dest, hint="choose another --out") if kind == "folder" else atomic_path(dest)
    with pytest.raises(OutputExistsError, match="x: already exists; "), ctx:
        pass
    assert dest.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_folder_replacement_swaps_and_removes_the_old_one(tmp_path):
    dest = tmp_path / "report"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with atomic_dir(dest, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert list(tmp_path.iterdir()) == [dest]  # the set-aside old folder is gone


def test_replaceable_check_refuses_before_anything_is_written(tmp_path):
    dest = tmp_path / "precious"
    dest.mkdir()
    (dest / "thesis.tex").write_text("keep me")

    def only_reports(path):
        raise OutputError(f"{path}: not a report")

    with pytest.raises(OutputError, match="not a report"), atomic_dir(dest, overwrite=True, replaceable=only_reports):
        pytest.fail("the block must not run")
    assert (dest / "thesis.tex").read_text() == "keep me" and list(tmp_path.iterdir()) == [dest]


def test_clean_stale_removes_only_dead_runs_leftovers(tmp_path):
    dest = tmp_path / "signals.parquet"
    dead, alive = _dead_pid(), os.getppid()
    stale_file = tmp_path / f"{TMP_MARK}{dead}-signals.parquet"
    stale_dir = tmp_path / f"{TMP_MARK}{dead}-signals.parquet.parts"
    live = tmp_path / f"{TMP_MARK}{alive}-signals.parquet"
    mine = temp_path(dest)
    stale_file.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "part-0.parquet").write_text("x")
    live.write_text("x")
    mine.write_text("x")
    other = tmp_path / f"{TMP_MARK}{dead}-other.parquet"
    other.write_text("x")
    assert sorted(p.name for p in clean_stale(dest)) == sorted([stale_file.name, stale_dir.name])
    assert live.exists() and mine.exists() and other.exists()
    assert not stale_file.exists() and not stale_dir.exists()


def test_missing_or_unwritable_parent_is_one_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"), atomic_dir(tmp_path / "no" / "run"):
        pass
    with pytest.raises(OutputError, match="is a directory"), atomic_path(tmp_path):
        pass
