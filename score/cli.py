"""`score`: the TensorFlow-free scorer CLI, and the one place where errors become exit codes.

Commands (run, verify, inspect) arrive with the export and scoring work; the
entry point and the error handling exist now.
"""

from __future__ import annotations

import sys

import typer

from score import __version__
from score.errors import SignalpackError

__all__ = ["app", "main", "run_app"]

app = typer.Typer(
    name="score",
    help="Score OHLCV files with a signalpack ONNX bundle (no TensorFlow needed).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    """signalpack scorer."""
    if version:
        typer.echo(f"score (signalpack) {__version__}")
        raise typer.Exit(0)


def run_app(application: typer.Typer, prog: str) -> None:
    """Run a typer app, turning signalpack errors into one stderr line and an exit code.

    2: bad input or usage; 1: a domain failure (parity or verify mismatch);
    130: interrupted. Anything else is a bug and keeps its traceback.
    """
    try:
        application(prog_name=prog, standalone_mode=False)
    except SignalpackError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print(f"{prog}: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show(file=sys.stderr)
            sys.exit(exc.exit_code)
        raise


def main() -> None:
    run_app(app, prog="score")
