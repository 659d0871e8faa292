"""`score`: the TensorFlow-free scorer CLI, and the one place where errors become exit codes."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from signalpack import __version__
from signalpack.errors import SignalpackError, printable
from signalpack.score import logs

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
def verify(
    bundle: BundleArg,
    trusted_key: Annotated[Path | None, typer.Option("--trusted-key", help="Require a valid signature by this Ed25519 public key (KEYFILE.pub; default $SCORE_TRUSTED_KEY).")] = None,
    expect_sha256: Annotated[str | None, typer.Option("--expect-sha256", help="Require the bundle file's sha256 to be this (64 hex digits).")] = None,
) -> None:
    """Check a bundle: manifest vs schema and graph, then rerun its golden vectors.

    Exit 0 ok, 1 the golden vectors do not reproduce, 2 unreadable, invalid, unsigned or mis-signed bundle.
    """
    from signalpack.score.bundle import load_bundle, verify_bundle
    from signalpack.score.signature import resolve_trusted_key

    b = load_bundle(bundle, trusted_key=resolve_trusted_key(trusted_key), expect_sha256=expect_sha256)
    if expect_sha256 is not None:
        typer.echo(f"✓ sha256                 {b.sha256} (as expected)")
    if b.signature is not None:
        typer.echo(f"{'✓' if b.signature.verified else '·'} signature              {b.signature.line()}")
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
    # JSON escapes every control character itself (ensure_ascii); the text is escaped by describe().
    typer.echo(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) if as_json else describe(summary))


@app.command()
def run(
    input: Annotated[str, typer.Argument(help="OHLCV parquet or CSV (.csv.gz too); multi-symbol files welcome. Also a folder, a quoted glob ('prices/*.parquet') or a hive dataset (prices/symbol=X/date=D/part-0.parquet) of such files, all one kind, or an s3://bucket/key.parquet object (AWS credentials from the environment or ~/.aws). With --engine spark: the same, or an hdfs:// or s3a:// URI of parquet files.")],
    model: Annotated[Path | None, typer.Option("--model", help="Bundle (default: $SCORE_MODEL, else the bundle shipped with signalpack).")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output parquet, a local path or an s3://bucket/key.parquet object (default: <input stem>.signals.parquet beside the input).")] = None,
    threads: Annotated[int, typer.Option("--threads", help="Concurrent onnxruntime runs, one thread each (0: one per core).", min=0)] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per onnxruntime call.", min=1)] = 512,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", help="Input rows per chunk (bounds memory).", min=1000)] = 100_000,
    summary: Annotated[Path | None, typer.Option("--summary", help="Also write the run summary as JSON here.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output (atomically).")] = False,
    engine: Annotated[str, typer.Option("--engine", help="local (default) or spark.")] = "local",
    master: Annotated[str, typer.Option("--master", help="Spark master for --engine spark (local[*], spark://host:7077, yarn, ...).")] = "local[*]",
    trusted_key: Annotated[Path | None, typer.Option("--trusted-key", help="Refuse the bundle unless signed by this Ed25519 public key (KEYFILE.pub; default $SCORE_TRUSTED_KEY).")] = None,
    expect_sha256: Annotated[str | None, typer.Option("--expect-sha256", help="Refuse the bundle unless its file's sha256 is this (64 hex digits).")] = None,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="Exit 3 (output still written) when a drift feature's PSI is over 0.25.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text (default) or json: one JSON object per event on stderr.")] = "text",
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="Output only windows ending at or after DATE (YYYY-MM-DD[THH:MM[:SS]], UTC); reads per symbol only the warm-up rows before it (parquet, local engine).")] = None,
) -> None:
    """Score INPUT with a bundle: one row of signals per input row that has a full window.

    Exit 0 ok, 2 bad input or usage, 3 drift over the threshold with --fail-on-drift (output written).
    """
    from signalpack.atomic import atomic_write_bytes
    from signalpack.errors import ConfigError
    from signalpack.score.bundle import load_bundle, resolve_model
    from signalpack.score.progress import Progress
    from signalpack.score.runner import parse_since, score_file, usable_cores

    log = logs.EventLog(logs.check_format(log_format))
    logs.configure(log)
    since_at = parse_since(since) if since is not None else None
    input, out_path = _locations(input, output, engine)
    if engine not in ("local", "spark"):
        raise ConfigError(f"--engine {printable(repr(engine), 60)} is not known; use local or spark")
    log.emit("start", f"score run {input} → {out_path}", input=str(input), output=str(out_path),
             model=str(resolve_model(model)), engine=engine, version=__version__)
    if fail_on_drift and engine == "spark":
        raise ConfigError("--fail-on-drift needs --engine local: the spark engine computes no drift statistics")
    from signalpack.score.signature import resolve_trusted_key

    pins = {"trusted_key": resolve_trusted_key(trusted_key), "expect_sha256": expect_sha256}
    _check_outputs(input, out_path, summary, resolve_model(model), overwrite, folder=engine == "spark")
    if engine == "spark":
        from signalpack.score.spark_engine import score_spark

        result_spark = score_spark(str(input), resolve_model(model), str(out_path), master=master,
                                   overwrite=overwrite, threads=threads or 1, batch_size=batch_size, since=since_at,
                                   **pins)
        if summary is not None:
            text = json.dumps(result_spark.to_dict(), indent=2, sort_keys=True) + "\n"
            atomic_write_bytes(summary, text.encode(), overwrite=overwrite)
        log.emit("summary", result_spark.line(), summary=result_spark.to_dict())
        return
    bundle = load_bundle(resolve_model(model), threads=1, **pins)
    progress = logs.JsonProgress(log) if log.is_json else Progress(sys.stderr)
    with progress as bar:
        result = score_file(input, bundle, out_path, batch_size=batch_size, chunk_rows=chunk_rows,
                            overwrite=overwrite, threads=threads or usable_cores(), progress=bar.update,
                            since=since_at)
    if summary is not None:
        text = json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"
        atomic_write_bytes(summary, text.encode(), overwrite=overwrite)
    _drift_alarm(log, result.drift or {}, fail_on_drift)
    log.emit("summary", result.line(), summary=result.to_dict())
    if fail_on_drift and result.drift_warning is not None:
        raise typer.Exit(DRIFT_EXIT_CODE)


DRIFT_EXIT_CODE = 3
"""``score run --fail-on-drift``: a drift feature over the threshold (the output and summary are written)."""


def _drift_alarm(log: logs.EventLog, drift: dict[str, Any], fail_on_drift: bool) -> None:
    """The one warning line (or event) for drift over the threshold; with --fail-on-drift and a bundle that
    carries no reference, one line saying there was nothing to check."""
    from signalpack.score.drift import drift_warning

    line = drift_warning(drift)
    if line is not None:
        feats = drift["features"]
        log.emit("warning", line, kind="drift", drifted={n: feats[n]["psi"] for n in drift["drifted"]})
    elif fail_on_drift and not drift.get("available"):
        log.emit("warning", f"drift: not available ({drift.get('reason')}); --fail-on-drift had nothing to check",
                 kind="drift", drifted={})


def _locations(input: str, output: str | None, engine: str) -> tuple[Any, Any]:
    """INPUT and --output as ``score run`` uses them: a checked ``s3://`` URI string (local engine,
    ``score.objstore``: any other scheme is refused) or a local ``Path``; the default output beside the input."""
    from signalpack.errors import ConfigError
    from signalpack.score import objstore
    from signalpack.score.runner import default_output_path

    if engine != "spark":
        src: Any = input if objstore.is_uri(input) else Path(input)
        if isinstance(src, str):
            objstore.check_uri(src, dataset=True)
        if output is not None:
            dest: Any = output if objstore.is_uri(output) else Path(output)
            if isinstance(dest, str):
                objstore.check_uri(dest, "--output")
        else:
            dest = objstore.default_output(src) if isinstance(src, str) else default_output_path(src)
        return src, dest
    # the spark engine: s3:// objects as for the local engine; other URIs (hdfs://, s3a://) go to Spark as given
    locations: list[Any] = []
    for text, what in ((input, "INPUT"), (output, "--output")):
        if text is not None and objstore.is_uri(text) and text[:5].lower() == "s3://":
            objstore.check_uri(text, what, dataset=what == "INPUT")
        locations.append(text if text is None or objstore.is_uri(text) else Path(text))
    src, dest = locations
    if dest is None:
        if isinstance(src, str):
            if src[:5].lower() != "s3://":
                raise ConfigError(f"{printable(repr(input), 120)}: give --output for a URI input")
            dest = objstore.default_output(src)
        else:
            dest = default_output_path(src)
    return src, dest


def _check_outputs(input: Path, output: Path, summary: Path | None, model: Path, overwrite: bool, folder: bool) -> None:
    """Every destination of `score run`, checked before any work: the output, then the summary.

    Each is refused if it is the input or the bundle (or the summary the output), by
    resolved path and by inode, and as ``check_destination`` refuses (exists without
    --overwrite, a symlink or special file, a too-long name, a missing folder).
    """
    from signalpack.atomic import check_destination, same_file
    from signalpack.errors import OutputError

    if isinstance(output, str) and output[:5].lower() == "s3://":  # no clobbering, a bucket that exists
        from signalpack.score.objstore import check_destination as check_object

        if output == input:
            raise OutputError(f"{output}: is the input; choose another --output")
        check_object(output, overwrite)
    local = "://" not in str(output)  # a Spark URI destination is checked by Spark's committer
    if local:
        for other, what in ((input, "the input"), (model, "the bundle")):
            if same_file(output, other):
                raise OutputError(f"{output}: is {what}; choose another --output")
        check_destination(Path(output), overwrite, folder=folder)
    if summary is not None:
        for other, what in ((input, "the input"), (model, "the bundle"), (output, "the --output")):
            if not isinstance(other, str) and same_file(summary, other):
                raise OutputError(f"{summary}: is {what}; choose another --summary path")
        check_destination(summary, overwrite)


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


_SIGNAL_WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
"""The signals ``run_app`` turns into one line and exit 128 + the signal number."""


class Signalled(BaseException):
    """SIGINT or SIGTERM, raised in the main thread by ``run_app``'s handler.

    A BaseException, so no ``except Exception`` and not typer (which turns
    KeyboardInterrupt into a silent exit 130) stops it: it unwinds through every
    atomic writer, which removes its temporaries, up to ``run_app``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Signalled`` while the block runs; the previous handlers come back after.

    Only the first signal raises: later ones are ignored so they cannot cut the
    clean-up short (SIGKILL still ends the process; the next run removes what it leaves).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # polars installs its own SIGINT handler when first imported; importing it here, before ours,
    # keeps ours in place for the whole run (otherwise a lazy import inside the command replaces it
    # and one Ctrl-C raises twice, possibly in the middle of clean-up).
    import polars  # noqa: F401

    caught: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if not caught:
            caught.append(signum)
            raise Signalled(signum)

    previous = {s: signal.signal(s, handler) for s in _SIGNAL_WORDS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _fail(prog: str, message: str, code: int, error: str) -> None:
    """Report a failure as one line, or as the ``error`` event when JSON logs are on (``score.logs``)."""
    log = logs.active()
    if log is not None and log.is_json:
        log.emit("error", message, exit_code=code, error=error)
    elif error in ("interrupted", "terminated", "aborted"):
        print(f"{prog}: {message}", file=sys.stderr)
    else:
        print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def run_app(application: typer.Typer, prog: str, *, log_option: bool = False) -> None:
    """Run a typer app, turning every user-facing failure into one stderr line and an exit code.

    2: bad input or usage; 1: a domain failure (parity or verify mismatch);
    130: interrupted (SIGINT), 143: terminated (SIGTERM), after the temporaries
    are removed. Anything else is a bug and keeps its traceback.
    log_option : the app has ``--log-format`` (``score run``): ``--log-format json`` on the command line
        makes every failure, usage errors included, a JSON ``error`` event instead of the line.
    """
    json_logs = log_option and logs.requested_format(sys.argv[1:]) == "json"
    logs.configure(logs.EventLog("json", prog=prog) if json_logs else None)
    try:
        with _signals_unwind():
            code = application(prog_name=prog, standalone_mode=False)
    except Signalled as exc:
        _fail(prog, _SIGNAL_WORDS[exc.signum], exc.exit_code, _SIGNAL_WORDS[exc.signum])
    except SignalpackError as exc:  # messages quote file and bundle text: escaped, so one line always
        _fail(prog, printable(str(exc), 2000), exc.exit_code, type(exc).__name__)
    except KeyboardInterrupt:
        _fail(prog, "interrupted", 130, "interrupted")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail(prog, "aborted", 130, "aborted")
    except _click_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show(file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
        _fail(prog, f"{message}{where}", getattr(exc, "exit_code", 2), "usage")
    finally:
        logs.configure(None)
    sys.exit(code if isinstance(code, int) else 0)


def main() -> None:
    run_app(app, prog="score", log_option=True)
