"""A minimal progress line for `score run`: shown on a terminal only, never in logs or pipes."""

from __future__ import annotations

import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, stream: TextIO, every: float = 0.5) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.every = every
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, rows: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        rate = rows / max(now - self.started, 1e-9)
        self.stream.write(f"\r  {rows:,} rows read  ({rate:,.0f} rows/s)")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled and self.last:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()
