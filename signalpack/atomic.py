"""Atomic output, for files and folders alike: build beside the destination, then rename.

Every output signalpack writes (bundles, scores, summaries, reports, run directories,
Spark datasets) goes through this module, so there is one temporary-name scheme and
one "already exists" rule:

- the work happens under ``<folder>/.signalpack-tmp-<pid>-<name>[suffix]``, beside the
  destination (same file system, so the final rename is atomic);
- a reader of the destination sees the old output or the complete new one, never a
  partial one; on any error or interruption the temporary is removed;
- an existing destination is refused with ``OutputExistsError`` unless the caller
  asked to replace it; a replaced folder is set aside, the new one renamed in, the
  old one removed;
- ``clean_stale`` removes temporaries that killed runs (dead pids) left beside a
  destination.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from signalpack.errors import OutputError, OutputExistsError

__all__ = ["TMP_MARK", "temp_path", "check_destination", "atomic_path", "atomic_write_bytes", "atomic_dir",
           "clean_stale"]

TMP_MARK = ".signalpack-tmp-"
"""Prefix of every temporary file or folder signalpack creates beside an output."""


def temp_path(dest: Path, suffix: str = "") -> Path:
    """This process's temporary name for ``dest`` (``suffix`` tells several apart)."""
    return dest.parent / f"{TMP_MARK}{os.getpid()}-{dest.name}{suffix}"


def check_destination(dest: Path, overwrite: bool, *, folder: bool = False, hint: str = "pass --overwrite to replace it") -> None:
    """Refuse a destination that cannot or must not be written, before any work is done.

    folder : the output is a folder (a run directory, a report, a dataset), not a file.
    hint : how the user replaces an existing output, appended to the "already exists" line.
    """
    parent = dest.parent
    if not parent.exists():
        raise OutputError(f"{dest}: output folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"{dest}: {parent} is not a folder")
    if not folder and dest.is_dir():
        raise OutputError(f"{dest}: is a directory")
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest}: already exists; {hint}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{dest}: output folder {parent} is not writable")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def _removed_on_error(tmp: Path, dest: Path) -> Iterator[None]:
    """On any error or interruption remove ``tmp``; an OSError becomes one OutputError line naming ``dest``."""
    try:
        yield
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary file path beside ``dest``; fsync and rename it onto ``dest`` if the block succeeds."""
    dest = Path(dest)
    check_destination(dest, overwrite)
    tmp = temp_path(dest)
    with _removed_on_error(tmp, dest):
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to ``dest`` atomically (see ``atomic_path``)."""
    with atomic_path(dest, overwrite) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_dir(
    dest: str | os.PathLike[str], overwrite: bool = False, *, create: bool = True,
    hint: str = "pass --overwrite to replace it", replaceable: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; move it onto ``dest`` if the block succeeds.

    create : make the temporary folder (False when the writer creates it itself, as Spark does).
    replaceable : called with an existing ``dest`` before anything is written, to refuse
        replacing a folder that is not what this output writes (it raises).
    An existing ``dest`` is set aside, the new folder renamed in, then the old one removed;
    if the rename fails the old one is put back.
    """
    dest = Path(dest)
    check_destination(dest, overwrite, folder=True, hint=hint)
    if dest.exists() and replaceable is not None:
        replaceable(dest)
    clean_stale(dest)
    tmp = temp_path(dest)
    _remove(tmp)
    with _removed_on_error(tmp, dest):
        if create:
            tmp.mkdir()
        yield tmp
        _swap_in(tmp, dest)


def _swap_in(new: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(new, dest)
        return
    old = temp_path(dest, ".old")
    _remove(old)
    os.rename(dest, old)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    _remove(old)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(dest: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files and folders left beside ``dest`` by killed runs (dead pids only)."""
    dest = Path(dest)
    removed = []
    for p in dest.parent.glob(f"{TMP_MARK}*-{dest.name}*"):
        pid_text = p.name[len(TMP_MARK):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        _remove(p)
        removed.append(p)
    return removed
