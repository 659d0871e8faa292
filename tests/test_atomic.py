"""signalpack.atomic: one temp-name scheme and one "already exists" rule for files and folders."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def _temp_of(pid: int, dest, suffix: str = "") -> str:
    """The temporary name process ``pid`` of this machine would use for ``dest``."""
    mine = temp_path(dest, suffix).name
    return f"{TMP_MARK}{pid}" + mine[len(f"{TMP_MARK}{os.getpid()}"):]


def test_defect_16_clean_stale_removes_dead_runs_temporaries_of_any_output(tmp_path):
    """Beside a destination, every temporary of a dead run on this machine goes, whatever output it was for."""
    dest = tmp_path / "signals.parquet"
    dead, alive = _dead_pid(), os.getppid()
    stale_file = tmp_path / _temp_of(dead, dest)
    stale_dir = tmp_path / (_temp_of(dead, dest) + ".parts")
    other = tmp_path / _temp_of(dead, tmp_path / "yesterday.parquet")  # another output's, killed too
    live = tmp_path / _temp_of(alive, dest)
    mine = temp_path(dest)
    foreign_host = tmp_path / f"{TMP_MARK}{dead}-zzzzzz-00000000-signals.parquet"  # another machine's, shared folder
    for f in (stale_file, other, live, mine, foreign_host):
        f.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "part-0.parquet").write_text("x")
    assert sorted(p.name for p in clean_stale(dest)) == sorted([stale_file.name, stale_dir.name, other.name])
    assert live.exists() and mine.exists() and foreign_host.exists()
    assert not stale_file.exists() and not stale_dir.exists() and not other.exists()


def test_every_atomic_write_cleans_stale_temporaries(tmp_path):
    stale = tmp_path / _temp_of(_dead_pid(), tmp_path / "a.json")
    stale.write_text("x")
    atomic_write_bytes(tmp_path / "b.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]


def test_missing_or_unwritable_parent_is_one_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"), atomic_dir(tmp_path / "no" / "run"):
        pass
    with pytest.raises(OutputError, match="is a directory"), atomic_path(tmp_path):
        pass


def _special_files(tmp_path):
    """Real non-regular destinations: symlinks (live and dangling), a FIFO, a character device (as root)."""
    target = tmp_path / "target.txt"
    target.write_text("keep")
    found = {"symlink": tmp_path / "link", "dangling symlink": tmp_path / "dangling", "fifo": tmp_path / "fifo"}
    found["symlink"].symlink_to(target)
    found["dangling symlink"].symlink_to(tmp_path / "nowhere")
    os.mkfifo(found["fifo"])
    try:  # a private copy of /dev/null (1, 3): if the rule failed, only this node would be replaced
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        found["character device"] = tmp_path / "null"
    except PermissionError:
        pass
    return found


def _kinds(tmp_path):
    return {p.name: stat.S_IFMT(p.lstat().st_mode) for p in tmp_path.iterdir()}


def test_defect_02_special_destinations_are_refused_not_replaced(tmp_path):
    """A symlink, FIFO or device at the destination is refused (one line), even with overwrite, and stays what it was."""
    specials = _special_files(tmp_path)
    before = _kinds(tmp_path)
    for kind, dest in specials.items():
        for as_folder in (False, True):
            with pytest.raises(OutputError) as info:
                if as_folder:
                    atomic_dir(dest, overwrite=True).__enter__()
                else:
                    atomic_write_bytes(dest, b"x", overwrite=True)
            want = ("is a symbolic link; refusing to replace it" if "symlink" in kind
                    else "exists and is not a folder; refusing to replace it" if as_folder
                    else f"is a {kind.replace('fifo', 'FIFO')}; refusing to replace it")
            assert str(info.value).startswith(f"{dest}: {want}"), str(info.value)
    assert _kinds(tmp_path) == before
    assert (tmp_path / "target.txt").read_text() == "keep"


def test_defect_02_a_file_output_onto_a_folder_and_a_folder_output_onto_a_file_are_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("keep")
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write_bytes(tmp_path / "d", b"x", overwrite=True)
    with pytest.raises(OutputError, match="exists and is not a folder"), atomic_dir(tmp_path / "f", overwrite=True):
        pass
    assert (tmp_path / "d").is_dir() and (tmp_path / "f").read_text() == "keep"


RACER = """
import pathlib, sys, time
from signalpack.atomic import atomic_path
from signalpack.errors import OutputExistsError
dest, go, me = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
try:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(me.encode() * 100_000)
        go.with_name(go.name + me).touch()          # checked and written: ready
        while not go.exists():                      # both wait here, then race for the final move
            time.sleep(0.001)
except OutputExistsError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def test_defect_10_two_writers_racing_for_one_destination_one_wins_one_is_refused(tmp_path):
    """Two real processes pass the "already exists" check, then move at the same moment: no-clobber decides."""
    for trial in range(8):
        dest, go = tmp_path / f"out{trial}.bin", tmp_path / f"go{trial}"
        procs = {me: subprocess.Popen([sys.executable, "-c", RACER, str(dest), str(go), me], stderr=subprocess.PIPE,
                                      text=True) for me in ("A", "B")}
        deadline = time.monotonic() + 60
        while not all(go.with_name(go.name + me).exists() for me in procs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs.values())
            time.sleep(0.005)
        go.touch()
        codes = {me: (p.wait(), p.stderr.read()) for me, p in procs.items()}
        assert sorted(c for c, _ in codes.values()) == [0, 2], codes
        winner = next(me for me, (c, _) in codes.items() if c == 0)
        loser_err = next(e for c, e in codes.values() if c == 2)
        assert dest.read_bytes() == winner.encode() * 100_000  # the winner's complete file, not replaced
        assert loser_err.strip() == f"{dest}: already exists (written by another run meanwhile); pass --overwrite to replace it"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_MARK)]


@pytest.mark.parametrize("fallback", ["renameat2", "link", "check-then-rename"])
def test_defect_10_no_clobber_move_without_renameat2(tmp_path, monkeypatch, fallback):
    """File systems without renameat2 (link instead) or without hard links either: an existing file still wins."""
    from signalpack import atomic

    if fallback != "renameat2":
        monkeypatch.setattr(atomic, "_renameat2", lambda: None)
    if fallback == "check-then-rename":
        def no_links(src, dst):
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(atomic.os, "link", no_links)
    dest = tmp_path / "out.bin"
    with pytest.raises(OutputExistsError, match="written by another run meanwhile"), atomic_path(dest) as tmp:
        tmp.write_bytes(b"mine")
        dest.write_bytes(b"theirs")  # appears after the check
    assert dest.read_bytes() == b"theirs" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    atomic_write_bytes(tmp_path / "new.bin", b"mine")
    assert (tmp_path / "new.bin").read_bytes() == b"mine"


def test_defect_10_racing_folder_outputs_do_not_merge(tmp_path):
    dest = tmp_path / "run"
    with pytest.raises(OutputExistsError, match="written by another run meanwhile"), atomic_dir(dest) as tmp:
        (tmp / "mine.txt").write_text("mine")
        dest.mkdir()  # another run's folder appears, empty: a plain rename would replace it
    assert list(dest.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1)
       .filter(lambda n: n not in (".", "..") and len(n.encode()) <= 255))
def test_defect_11_temporary_names_fit_whatever_the_destination_name(tmp_path, name):
    """Any valid destination name (up to 255 bytes, any script) gives temporary names well inside 255 bytes."""
    dest = tmp_path / name
    for suffix in ("", ".old"):
        tmp = temp_path(dest, suffix)
        assert tmp.parent == tmp_path and tmp.name.startswith(TMP_MARK)
        assert len(os.fsencode(tmp.name + ".parts")) <= 100
    assert temp_path(dest) != temp_path(tmp_path / (name + "x"))


@pytest.mark.parametrize("name", ["s" * 240 + ".parquet", "é" * 123 + ".parquet", "x" * 255])
def test_defect_11_longest_valid_names_are_written(tmp_path, name):
    assert len(name.encode()) >= 248
    atomic_write_bytes(tmp_path / name, b"whole")
    with atomic_dir(tmp_path / (name[:-1] + "d")) as tmp:
        (tmp.with_name(tmp.name + ".parts")).mkdir()  # the scorer's parts folder beside its temporary
        (tmp.with_name(tmp.name + ".parts")).rmdir()
    assert (tmp_path / name).read_bytes() == b"whole"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_MARK)]


def test_defect_11_a_name_too_long_for_the_file_system_is_one_line(tmp_path):
    dest = tmp_path / ("n" * 268)
    for write in (lambda: atomic_write_bytes(dest, b"x"), lambda: atomic_dir(dest).__enter__()):
        with pytest.raises(OutputError) as info:
            write()
        assert str(info.value) == f"{dest}: the file name is too long (268 bytes; the file system allows 255)"
    deep = tmp_path.joinpath(*["d" * 200] * 25) / "out.bin"  # a path past PATH_MAX (4096)
    with pytest.raises(OutputError, match="out.bin: "):
        atomic_write_bytes(deep, b"x")
    assert list(tmp_path.iterdir()) == []
