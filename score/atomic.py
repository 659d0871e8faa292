"""Atomic output: write beside the destination under a temporary name, then rename.

A reader of the destination sees the old file or the complete new one, never a
partial one; on any error (or interruption) the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from score.errors import OutputError

__all__ = ["atomic_path", "atomic_write_bytes", "clean_stale", "TMP_MARK"]

TMP_MARK = ".signalpack-tmp-"


def _check_destination(dest: Path, overwrite: bool) -> None:
    parent = dest.parent
    if not parent.exists():
        raise OutputError(f"{dest}: output folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"{dest}: {parent} is not a folder")
    if dest.is_dir():
        raise OutputError(f"{dest}: is a directory")
    if dest.exists() and not overwrite:
        raise OutputError(f"{dest}: already exists; pass --overwrite to replace it")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{dest}: output folder {parent} is not writable")


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` if the block succeeds."""
    dest = Path(dest)
    _check_destination(dest, overwrite)
    tmp = dest.parent / f"{TMP_MARK}{os.getpid()}-{dest.name}"
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(dest: str | os.PathLike[str], data: bytes, overwrite: bool = False) -> None:
    with atomic_path(dest, overwrite) as tmp:
        tmp.write_bytes(data)


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
    import shutil

    dest = Path(dest)
    removed = []
    for p in dest.parent.glob(f"{TMP_MARK}*-{dest.name}*"):
        pid_text = p.name[len(TMP_MARK):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    return removed
