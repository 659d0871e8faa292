"""`score` run in this process (no interpreter start-up): argv and the environment as given."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from unittest import mock

import pytest


def score_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, stderr) of ``score ARGS`` through the real entry point (``run_app``); ``env``
    replaces the whole environment for the call."""
    from signalpack.score.cli import app, run_app

    err = io.StringIO()
    environ = mock.patch.dict(os.environ, env, clear=True) if env is not None else contextlib.nullcontext()
    with environ, mock.patch.object(sys, "argv", ["score", *args]), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        run_app(app, "score")
    return int(exit_info.value.code or 0), err.getvalue()
