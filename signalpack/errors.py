"""One exception class per kind of user-facing failure, and the helper that keeps messages to one line.

The library raises these; only the CLIs print them and choose the exit code
(``exit_code``): 2 for bad input or usage, 1 for a domain failure such as a
parity or verification mismatch.
"""

from __future__ import annotations

__all__ = [
    "SignalpackError",
    "InputError",
    "DataError",
    "ConfigError",
    "RunDirError",
    "OutputError",
    "OutputExistsError",
    "BundleError",
    "VerifyMismatch",
    "ParityError",
    "ExportError",
    "first_line",
    "printable",
]


class SignalpackError(ValueError):
    """Base class: a failure the user can act on, reported as one line."""

    exit_code: int = 2


class InputError(SignalpackError):
    """An input file cannot be read at all (missing, a directory, unreadable, corrupt)."""


class DataError(SignalpackError):
    """An input file was read but its content breaks a data check."""


class ConfigError(SignalpackError):
    """A configuration file or option is invalid (unknown key, out-of-range value)."""


class RunDirError(SignalpackError):
    """A run directory is missing files or holds unreadable ones."""


class OutputError(SignalpackError):
    """An output cannot be written (missing folder, not writable, disk full)."""


class OutputExistsError(OutputError):
    """The destination exists and the user did not ask to replace it (the one "already exists" error)."""


class BundleError(SignalpackError):
    """A bundle cannot be used: unreadable, truncated, corrupt, not ONNX, no or invalid
    manifest, unknown manifest format version, external data, oversized metadata."""


class VerifyMismatch(SignalpackError):
    """A readable bundle whose graph does not reproduce its golden vectors."""

    exit_code = 1


class ParityError(SignalpackError):
    """onnxruntime and the Keras ensemble disagree beyond the tolerance."""

    exit_code = 1


class ExportError(SignalpackError):
    """A run directory cannot be exported as specified (e.g. a member converts to Loop ops)."""

    exit_code = 1


MAX_SHOWN_CHARS = 300
"""The longest piece of untrusted text (an exception's first line, a value from a file) shown in a message."""


def printable(text: object, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """``text`` safe for a terminal and for a one-line message: every control or otherwise unprintable
    character (C0 incl. newline, tab and ESC, DEL, C1, Unicode line/paragraph separators, bidi and
    other format characters) becomes a visible escape (``\\x1b``, ``\\n``, ``\\u202e``), and text
    longer than ``limit`` characters is cut, ending in ``…``. Untrusted text from a bundle or an
    input file goes through this before it reaches a terminal: it can neither move the cursor, set
    the window title nor start a second line (a fake "Traceback")."""
    s = text if isinstance(text, str) else str(text)
    if limit is not None and len(s) > limit:  # cut before escaping too: bounded work on huge text
        s = s[: limit + 1]
    if not s.isprintable():
        s = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…"
    return s


def first_line(exc: BaseException, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """The first line of an exception's text (library messages can span many lines), made printable
    and cut to ``limit`` characters (``printable``): third-party messages quote names from the file."""
    text = str(exc).strip().splitlines()
    return printable(text[0], limit) if text and text[0].strip() else type(exc).__name__
