"""What `score run` tells the operator on stderr: human lines (``--log-format text``) or JSON events.

With ``--log-format json`` every line on stderr is one JSON object (``schemas/score_log.schema.json``)
with ``event``, ``time`` (UTC, ISO 8601 with milliseconds and ``Z``) and ``message`` (the text line
the text format would print), plus the event's own fields:

    start     input, output, model, engine, version
    progress  rows_read, rows_per_second (the first chunk, then at most every PROGRESS_EVERY seconds)
    warning   kind: "drift" with drifted (feature → PSI), or "runtime" (a Python warning)
    summary   summary (the same object ``--summary`` writes)
    error     exit_code (1, 2, 130 or 143), error (the exception class, or "interrupted"/"terminated"/"usage")

Nothing else is written to stderr then; an error ends the stream with its ``error`` event and the
exit code is unchanged. JSON escapes every control character (``ensure_ascii``), so untrusted text
from the input or the bundle cannot start a line of its own. Only the CLI prints: the library hands
its figures over (``score.runner``) and ``score.cli`` turns them into these events.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self, TextIO

from signalpack.errors import ConfigError, printable

__all__ = [
    "EVENTS",
    "LOG_FORMATS",
    "PROGRESS_EVERY",
    "EventLog",
    "JsonProgress",
    "active",
    "check_format",
    "configure",
    "requested_format",
]

LOG_FORMATS = ("text", "json")
EVENTS = ("start", "progress", "warning", "summary", "error")
PROGRESS_EVERY = 5.0
"""Seconds between two progress events (the first chunk's is always written)."""
MESSAGE_CHARS = 2000


def check_format(fmt: str) -> str:
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"--log-format {printable(repr(fmt), 60)} is not known; use text or json")
    return fmt


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    """Writes events to ``stream``: JSON lines, or for text only what the text format shows."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None, prog: str = "score") -> None:
        self.fmt = check_format(fmt)
        self._stream = stream
        self.prog = prog

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def is_json(self) -> bool:
        return self.fmt == "json"

    def emit(self, event: str, message: str, **fields: Any) -> None:
        """One event. Text: warnings, summaries and errors as their line (start and progress show nothing
        here: the terminal progress line is ``score.progress``); JSON: one object per line."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        message = printable(message, MESSAGE_CHARS)
        if self.is_json:
            record = {"event": event, "time": utc_now(), "message": message, **fields}
            line = json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=str)
        elif event == "warning":
            line = f"{self.prog}: warning: {message}"
        elif event == "error":
            line = message if fields.get("error") in ("interrupted", "terminated", "aborted") else \
                f"{self.prog}: error: {message}"
        elif event == "summary":
            line = message
        else:
            return
        self.stream.write(line + "\n")
        self.stream.flush()


class JsonProgress:
    """``score run``'s progress callback as ``progress`` events: the first chunk, then at most one per
    ``every`` seconds (a scheduler's log gets a heartbeat, not a line per chunk)."""

    def __init__(self, log: EventLog, every: float = PROGRESS_EVERY) -> None:
        self.log = log
        self.every = every
        self.started = time.monotonic()
        self.last: float | None = None

    def update(self, rows: int) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.every:
            return
        self.last = now
        rate = rows / max(now - self.started, 1e-9)
        self.log.emit("progress", f"{rows:,} rows read ({rate:,.0f} rows/s)", rows_read=rows,
                      rows_per_second=round(rate, 1))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_ACTIVE: EventLog | None = None
_SAVED_SHOWWARNING: list[Any] = []
"""Python's warning hook from before a JSON log took it over (restored by ``configure(None)``)."""


def configure(log: EventLog | None) -> None:
    """Make ``log`` the one ``run_app`` reports errors through (None: plain lines again).

    A JSON log also takes over Python's warnings (a library's DeprecationWarning, say): each becomes a
    ``warning`` event of kind "runtime" instead of a free-form stderr line.
    """
    global _ACTIVE
    _ACTIVE = log
    if log is not None and log.is_json:
        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            log.emit("warning", f"{category.__name__}: {message}", kind="runtime")

        if not _SAVED_SHOWWARNING:
            _SAVED_SHOWWARNING.append(warnings.showwarning)
        warnings.showwarning = show
    elif _SAVED_SHOWWARNING:
        warnings.showwarning = _SAVED_SHOWWARNING.pop()


def active() -> EventLog | None:
    return _ACTIVE


def requested_format(argv: Sequence[str]) -> str:
    """The ``--log-format`` given on a command line, found before the command parses it (so that a usage
    error is an event too); "text" when absent or not a known format."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        value = None
        if arg == "--log-format" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--log-format="):
            value = arg.split("=", 1)[1]
        if value in LOG_FORMATS:
            return value
    return "text"
