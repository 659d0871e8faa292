"""`signalpack`: the quant's command — train, report, export, parity, demo, default-bundle.

Thin commands over library calls in ``signalpack.train``, ``signalpack.evaluation`` and
``signalpack.export``; errors become exit codes in ``score.cli.run_app``, shared by both CLIs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from signalpack.score.cli import run_app
from signalpack.score.contract import (
    ATOL_FOR_VALIDATION,
    DEFAULT_OPSET,
    MAX_OPSET,
    MIN_OPSET,
)

app = typer.Typer(
    name="signalpack",
    help="Train the SELL/HOLD/BUY LSTM ensemble, export it to one ONNX bundle, check parity.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """signalpack: training side. The scorer is the separate `score` command."""


@app.command()
def train(
    data: Annotated[Optional[Path], typer.Argument(help="OHLCV CSV/CSV.gz/parquet; default: embedded S&P 500 daily 1999-2018.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file overriding defaults.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory to create (default runs/<UTC timestamp>).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Max epochs per member (model.max_epochs).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (members use seed, seed+1, ...).")] = None,
    horizon: Annotated[Optional[int], typer.Option("--horizon", help="Label horizon in bars (labels.horizon).")] = None,
    label_method: Annotated[Optional[str], typer.Option("--labels", help="forward_return or triple_barrier.")] = None,
    walk_forward: Annotated[Optional[int], typer.Option("--walk-forward", help="Also evaluate K expanding-window folds (split.walk_forward; 2..20).")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the HTML report into RUN_DIR/report.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.")] = False,
) -> None:
    """Train the 3-member ensemble and write a run directory (with its HTML report)."""
    from signalpack.evaluation.summary import summary_table
    from signalpack.train.config import load_config
    from signalpack.train.pipeline import train_run

    cfg = load_config(config).with_overrides(
        model__max_epochs=epochs, seed=seed, labels__horizon=horizon, labels__method=label_method,
        split__walk_forward=walk_forward,
    )
    _console_logging(quiet)
    result = train_run(data, cfg, out)
    typer.echo(summary_table(result.metadata))
    typer.echo(f"run directory: {result.run_dir}  ({result.metadata['seconds']} s)")
    if report:
        _write_report(result.run_dir)


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `signalpack train`.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Report folder (default RUN_DIR/report).")] = None,
) -> None:
    """Write the run's HTML report (plots embedded) and its PNGs: equity, trades, calibration, walk-forward, ..."""
    _write_report(run_dir, out)


def _write_report(run_dir: Path, out: Path | None = None) -> None:
    from signalpack.evaluation.html_report import write_report

    result = write_report(run_dir, out)
    typer.echo(f"report: {result.html}")


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `signalpack train`.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Bundle path (default RUN_DIR/bundle.onnx).")] = None,
    opset: Annotated[int, typer.Option("--opset", help=f"Default-domain ONNX opset ({MIN_OPSET}..{MAX_OPSET}).")] = DEFAULT_OPSET,
    atol: Annotated[float, typer.Option("--atol", help="Parity tolerance (max abs diff); recorded in the manifest for `score verify`.")] = ATOL_FOR_VALIDATION,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle.")] = False,
    sign_key: Annotated[Optional[Path], typer.Option("--sign-key", help="Sign the bundle with this Ed25519 private key (signalpack keygen KEYFILE).")] = None,
) -> None:
    """Export RUN_DIR to one .onnx bundle; refuses to write it if the parity gate fails."""
    from signalpack.export.exporter import export_run

    result = export_run(run_dir, out, opset=opset, atol=atol, overwrite=overwrite, sign_key=sign_key)
    fr = result.feature_report
    if fr is not None:
        typer.echo(f"feature parity (in-graph vs polars, {fr.windows} windows, atol {fr.atol:g} + rtol {fr.rtol:g}):")
        for line in fr.lines():
            typer.echo(f"  {line}")
    typer.echo("model parity (raw bars → bundle vs polars features → Keras):")
    for line in result.report.lines():
        typer.echo(line)
    typer.echo(f"bundle: {result.bundle}  {result.size:,} bytes  sha256 {result.sha256}  ({result.seconds} s)")
    typer.echo(f"parity report: {result.report_path}")
    typer.echo(f"ONNX test data: {result.test_data}")
    if sign_key is not None:
        typer.echo(f"signed with {sign_key} (verify: score verify {result.bundle} --trusted-key {sign_key}.pub)")


@app.command()
def keygen(
    keyfile: Annotated[Path, typer.Argument(help="Private key file to create; the public key goes to KEYFILE.pub.")],
) -> None:
    """Create an Ed25519 key pair for signing bundles: KEYFILE (private, PKCS#8 PEM, mode 0600) and
    KEYFILE.pub (public, PEM). Never replaces an existing file."""
    from signalpack.score.signature import write_keypair

    private, public, fingerprint = write_keypair(keyfile)
    typer.echo(f"private key: {private}  (mode 0600; keep it secret: signalpack export RUN_DIR --sign-key {private})")
    typer.echo(f"public key:  {public}  sha256 {fingerprint}  (give it to scorers: score verify BUNDLE --trusted-key {public})")


@app.command()
def parity(
    run_dir: Annotated[Path, typer.Argument(help="The run directory the bundle was exported from.")],
    bundle: Annotated[Path, typer.Argument(help="The .onnx bundle.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Check all windows of this OHLCV file instead of the test segment.")] = None,
    atol: Annotated[float, typer.Option("--atol", help="Tolerance (max abs diff).")] = ATOL_FOR_VALIDATION,
    report: Annotated[Optional[Path], typer.Option("--report", help="Also write the full report as JSON.")] = None,
) -> None:
    """Keras ensemble vs onnxruntime on every test window (or every window of --data). Exit 1 on failure."""
    from signalpack.export.parity import run_parity

    result = run_parity(run_dir, bundle, data=data, atol=atol, report_path=report)
    for line in result.lines():
        typer.echo(line)
    result.raise_if_failed()


@app.command()
def demo(
    data: Annotated[Optional[Path], typer.Argument(help="OHLCV file; default: embedded S&P 500.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory to create.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Max epochs per member.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch lines.")] = False,
) -> None:
    """The main job end to end: train (with its HTML report) → export (with parity) → verify → inspect."""
    from signalpack.evaluation.summary import summary_table
    from signalpack.export.exporter import export_run
    from signalpack.score.bundle import inspect_bundle, load_bundle, verify_bundle
    from signalpack.score.describe import describe
    from signalpack.train.config import TrainConfig
    from signalpack.train.pipeline import train_run

    _console_logging(quiet)
    run = train_run(data, TrainConfig().with_overrides(model__max_epochs=epochs), out)
    typer.echo(summary_table(run.metadata))
    typer.echo(f"run directory: {run.run_dir}")
    _write_report(run.run_dir)
    typer.echo("")
    exported = export_run(run.run_dir)
    for line in exported.report.lines():
        typer.echo(line)
    typer.echo(f"bundle: {exported.bundle} ({exported.size:,} bytes, {exported.seconds} s)\n")
    bundle = load_bundle(exported.bundle)
    verified = verify_bundle(bundle)
    verified.raise_if_failed(bundle.path.name)
    typer.echo(f"verify: OK, {verified.count} golden vectors reproduce\n")
    typer.echo(describe(inspect_bundle(bundle)))


@app.command("default-bundle")
def default_bundle(
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write it (default: the package's score/models/default.onnx).")] = None,
) -> None:
    """Regenerate the bundle shipped with the scorer: default config on the embedded S&P 500 data."""
    import tempfile

    from signalpack.export.exporter import export_run
    from signalpack.score.bundle import DEFAULT_BUNDLE
    from signalpack.train.config import TrainConfig
    from signalpack.train.pipeline import train_run

    _console_logging(True)
    target = out or DEFAULT_BUNDLE
    with tempfile.TemporaryDirectory() as tmp:
        run = train_run(None, TrainConfig(), Path(tmp) / "run")
        result = export_run(run.run_dir, Path(tmp) / "default.onnx")
        target.parent.mkdir(parents=True, exist_ok=True)
        from signalpack.atomic import atomic_write_bytes

        atomic_write_bytes(target, result.bundle.read_bytes(), overwrite=True)
    typer.echo(f"default bundle: {target}  {result.size:,} bytes  sha256 {result.sha256}")


def _console_logging(quiet: bool) -> None:
    log = logging.getLogger("signalpack.train")
    log.setLevel(logging.INFO)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) for h in log.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(message)s"))
        h.setLevel(logging.WARNING if quiet else logging.INFO)
        log.addHandler(h)
    log.propagate = False


def main() -> None:
    run_app(app, prog="signalpack")
