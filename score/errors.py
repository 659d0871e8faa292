"""One exception class per kind of user-facing failure.

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
    "BundleError",
    "VerifyMismatch",
    "ParityError",
    "ExportError",
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
