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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (library messages can span many lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
