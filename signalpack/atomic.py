"""Atomic output, for files and folders alike: build beside the destination, then rename.

Every output signalpack writes (bundles, scores, summaries, reports, run directories,
Spark datasets) goes through this module, so there is one temporary-name scheme and
one set of destination rules:

- the work happens under ``<folder>/.signalpack-tmp-<pid>-<host>-<hash>-<name>[suffix]``,
  beside the destination (same file system, so the final rename is atomic); ``host``
  tells machines sharing a folder apart, ``hash`` is of the whole destination name and
  ``name`` its first 40 bytes, so a temporary name fits the file system's 255-byte limit
  whatever the destination's name;
- a reader of the destination sees the old output or the complete new one, never a
  partial one; on any error or interruption the temporary is removed;
- a destination must be a plain name in an existing, writable folder: an existing one
  must be a regular file (a folder for folder outputs), never a symbolic link, device,
  FIFO or socket, and a name longer than the file system allows is refused (one
  ``OutputError`` line each, before any work);
- an existing destination is refused with ``OutputExistsError`` unless the caller
  asked to replace it, and the final move does not replace a destination that
  appeared meanwhile (another run's): it is no-clobber unless replacing was asked;
  a replaced folder is set aside, the new one renamed in, the old one removed;
- ``clean_stale`` removes the temporaries that killed runs (dead pids, this machine)
  left beside a destination, whatever destination they were for.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import shutil
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from signalpack.errors import OutputError, OutputExistsError

__all__ = ["TMP_MARK", "temp_path", "check_destination", "same_file", "atomic_path", "atomic_write_bytes",
           "atomic_dir", "clean_stale"]

TMP_MARK = ".signalpack-tmp-"
"""Prefix of every temporary file or folder signalpack creates beside an output."""

NAME_MAX = 255
"""Bytes in one file name on Linux file systems (the fallback when ``pathconf`` cannot tell)."""

_NAME_KEPT = 40  # bytes of the destination name kept in a temporary name, for people reading a folder


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode(errors="surrogateescape")).hexdigest()[:6]


def temp_path(dest: Path, suffix: str = "") -> Path:
    """This process's temporary name for ``dest`` (``suffix`` tells several apart); at most ~90 bytes."""
    raw = os.fsencode(dest.name)
    digest = hashlib.sha256(raw).hexdigest()[:8]
    kept = raw[:_NAME_KEPT].decode("utf-8", errors="ignore") if len(raw) > _NAME_KEPT else dest.name
    return dest.parent / f"{TMP_MARK}{os.getpid()}-{_host_tag()}-{digest}-{kept}{suffix}"


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_destination(dest: Path, overwrite: bool, *, folder: bool = False, hint: str = "pass --overwrite to replace it") -> None:
    """Refuse a destination that cannot or must not be written, before any work is done.

    folder : the output is a folder (a run directory, a report, a dataset), not a file.
    hint : how the user replaces an existing output, appended to the "already exists" line.
    """
    dest = Path(dest)
    parent = dest.parent
    try:
        size, limit = len(os.fsencode(dest.name)), _name_max(parent if parent.is_dir() else Path("."))
        if size > limit:
            raise OutputError(f"{dest}: the file name is too long "
                              f"({size} bytes; the file system allows {limit})")
        if not parent.exists():
            raise OutputError(f"{dest}: output folder {parent} does not exist")
        if not parent.is_dir():
            raise OutputError(f"{dest}: {parent} is not a folder")
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise OutputError(f"{dest}: is a symbolic link; refusing to replace it (give the real path)")
            if stat.S_ISDIR(st.st_mode) and not folder:
                raise OutputError(f"{dest}: is a directory")
            if folder and not stat.S_ISDIR(st.st_mode):
                raise OutputError(f"{dest}: exists and is not a folder; refusing to replace it")
            if not folder and not stat.S_ISREG(st.st_mode):
                raise OutputError(f"{dest}: is {_kind(st.st_mode)}; refusing to replace it with an output file")
            if not overwrite:
                raise OutputExistsError(f"{dest}: already exists; {hint}")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"{dest}: output folder {parent} is not writable")
    except OSError as exc:  # e.g. a path longer than the system allows
        raise OutputError(f"{dest}: cannot be used as an output ({exc.strerror or exc})") from exc


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True if ``a`` and ``b`` name the same file: the same resolved path, or the same inode (hard links, bind mounts)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
    except (OSError, RuntimeError):
        pass
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


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


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}


def _renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28, or not Linux
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _move_no_clobber(src: Path, dest: Path) -> None:
    """Rename ``src`` to ``dest`` unless ``dest`` exists, atomically: FileExistsError if it does.

    renameat2(RENAME_NOREPLACE) where the kernel and file system have it; else, for a
    file, link-then-unlink (a hard link fails atomically on an existing name).
    """
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dest), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in _UNSUPPORTED:
            raise OSError(err, os.strerror(err), str(dest))
    if not src.is_dir():
        try:
            os.link(src, dest)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
        else:
            os.unlink(src)
            return
    if os.path.lexists(dest):  # last resort, for file systems with neither: check, then rename
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dest))
    os.rename(src, dest)


def _move(src: Path, dest: Path, overwrite: bool, hint: str) -> None:
    """The final move of a file: no-clobber unless ``overwrite``; a destination that appeared meanwhile is one line."""
    if overwrite:
        os.replace(src, dest)
        return
    try:
        _move_no_clobber(src, dest)
    except FileExistsError:
        raise OutputExistsError(f"{dest}: already exists (written by another run meanwhile); {hint}") from None


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary file path beside ``dest``; fsync and rename it onto ``dest`` if the block succeeds."""
    dest = Path(dest)
    check_destination(dest, overwrite)
    clean_stale(dest)
    tmp = temp_path(dest)
    with _removed_on_error(tmp, dest):
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _move(tmp, dest, overwrite, "pass --overwrite to replace it")


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
        _swap_in(tmp, dest, overwrite, hint)


def _swap_in(new: Path, dest: Path, overwrite: bool, hint: str) -> None:
    if not overwrite or not os.path.lexists(dest):
        try:
            _move_no_clobber(new, dest)
        except FileExistsError:
            raise OutputExistsError(f"{dest}: already exists (written by another run meanwhile); {hint}") from None
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
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale(dest: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders killed runs left beside ``dest``, whatever output they were for.

    Only this machine's (the host tag in the name) and only those whose pid is dead:
    another machine's run on a shared folder, or a live run, keeps its temporaries.
    """
    dest = Path(dest)
    removed = []
    host = _host_tag()
    try:
        candidates = list(dest.parent.glob(f"{TMP_MARK}*"))
    except OSError:
        return removed
    for p in candidates:
        fields = p.name[len(TMP_MARK):].split("-", 2)
        if len(fields) < 3 or not fields[0].isdigit() or fields[1] != host:
            continue
        pid = int(fields[0])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        _remove(p)
        removed.append(p)
    return removed
