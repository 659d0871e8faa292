"""`score`: the TensorFlow-free scorer CLI, and the one place where errors become exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from signalpack import __version__
from signalpack.errors import SignalpackError

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


BundleArg = Annotated[Path, typer.Argument(help="A signalpack .onnx bundle.")]


@app.command()
def verify(bundle: BundleArg) -> None:
    """Check a bundle: manifest vs schema and graph, then rerun its golden vectors.

    Exit 0 ok, 1 the golden vectors do not reproduce, 2 unreadable or invalid bundle.
    """
    from signalpack.score.bundle import load_bundle, verify_bundle

    b = load_bundle(bundle)
    report = verify_bundle(b)
    for line in report.lines():
        typer.echo(line)
    report.raise_if_failed(b.path.name)
    typer.echo(f"OK: {b.path.name} (model id {b.model_id}) reproduces its {report.count} golden vectors")


@app.command()
def inspect(
    bundle: BundleArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (includes the full manifest).")] = False,
) -> None:
    """Show a bundle's manifest summary, interface, size and sha256."""
    from signalpack.score.bundle import inspect_bundle, load_bundle
    from signalpack.score.describe import describe

    summary = inspect_bundle(load_bundle(bundle))
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if as_json else describe(summary))


@app.command()
def run(
    input: Annotated[Path, typer.Argument(help="OHLCV parquet or CSV (.csv.gz too); multi-symbol files welcome. With --engine spark: a parquet file or folder.")],
    model: Annotated[Path | None, typer.Option("--model", help="Bundle (default: $SCORE_MODEL, else the bundle shipped with signalpack).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output parquet (default: <input stem>.signals.parquet beside the input).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="Concurrent onnxruntime runs, one thread each (0: one per core).", min=0)] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per onnxruntime call.", min=1)] = 512,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", help="Input rows per chunk (bounds memory).", min=1000)] = 100_000,
    summary: Annotated[Path | None, typer.Option("--summary", help="Also write the run summary as JSON here.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output (atomically).")] = False,
    engine: Annotated[str, typer.Option("--engine", help="local (default) or spark.")] = "local",
    master: Annotated[str, typer.Option("--master", help="Spark master for --engine spark (local[*], spark://host:7077, yarn, ...).")] = "local[*]",
) -> None:
    """Score INPUT with a bundle: one row of signals per input row that has a full window."""
    from signalpack.atomic import atomic_write_bytes
    from signalpack.errors import ConfigError
    from signalpack.score.bundle import load_bundle, resolve_model
    from signalpack.score.progress import Progress
    from signalpack.score.runner import default_output_path, score_file, usable_cores

    if engine not in ("local", "spark"):
        raise ConfigError(f"--engine {engine!r} is not known; use local or spark")
    if engine == "spark":
        from signalpack.score.spark_engine import score_spark

        out = str(output or default_output_path(input))
        result_spark = score_spark(str(input), resolve_model(model), out, master=master, overwrite=overwrite,
                                   threads=threads or 1, batch_size=batch_size)
        if summary is not None:
            text = json.dumps(result_spark.to_dict(), indent=2, sort_keys=True) + "\n"
            atomic_write_bytes(summary, text.encode(), overwrite=True)
        typer.echo(result_spark.line(), err=True)
        return
    bundle = load_bundle(resolve_model(model), threads=1)
    with Progress(sys.stderr) as bar:
        result = score_file(input, bundle, output, batch_size=batch_size, chunk_rows=chunk_rows,
                            overwrite=overwrite, threads=threads or usable_cores(), progress=bar.update)
    if summary is not None:
        text = json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"
        atomic_write_bytes(summary, text.encode(), overwrite=True)
    typer.echo(result.line(), err=True)


def _click_errors() -> tuple[type[BaseException], ...]:
    """Click's exception base class, wherever this typer takes click from (it may vendor it)."""
    import importlib

    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except ImportError:
            continue
    return tuple(found)


def run_app(application: typer.Typer, prog: str) -> None:
    """Run a typer app, turning every user-facing failure into one stderr line and an exit code.

    2: bad input or usage; 1: a domain failure (parity or verify mismatch);
    130: interrupted. Anything else is a bug and keeps its traceback.
    """
    try:
        code = application(prog_name=prog, standalone_mode=False)
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
    except _click_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show(file=sys.stderr)  # type: ignore[attr-defined]
        else:
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
            print(f"{prog}: error: {message}{where}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)


def main() -> None:
    run_app(app, prog="score")
