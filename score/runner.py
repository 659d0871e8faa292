"""Batch scoring: the pure scoring core, and the streaming file job around it.

``score_frame`` is the core: a frame of whole or overlapped symbol histories
and a loaded bundle in, one row of scores per row that has a full window out.
It holds no state, so another engine can call it per partition. It computes no
features: each window of W raw bars (the bundle's ``window_rows``) goes to the
graph as it is, and the graph computes the features itself (bundle format 2).

``score_file`` streams a file, or a dataset's files one after another
(``score.datasets``), through it in chunks (``OhlcvReader`` batches),
carrying the last ``W - 1`` rows of the open symbol into the
next chunk, so chunked output equals whole-file output exactly while peak
memory follows the chunk size, not the file size. Output parts are written to a
temporary folder beside the destination and combined into one parquet file
that is renamed into place at the end: the destination is either untouched or
complete. An ``s3://`` destination (``score.objstore``) gets the parts in a private
temporary folder and one upload of the combined file, completed last: the object is
absent or complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from signalpack.atomic import atomic_path, same_file
from signalpack.errors import ConfigError, DataError, OutputError, printable
from signalpack.score import objstore
from signalpack.score.bar_windows import bar_matrix, gather_windows
from signalpack.score.bundle import Bundle
from signalpack.score.contract import (
    CLASS_NAMES,
    CONFIDENCE,
    INPUT_NAME,
    N_CLASSES,
    OUTPUT_COLUMNS,
    PROB_COLUMNS,
    PROBABILITIES,
    SIGNAL,
)
from signalpack.score.datasets import Dataset, DatasetReader, default_output, resolve_input
from signalpack.score.drift import DriftAccumulator, SymbolRanges, drift_warning
from signalpack.score.external_sort import external_sort
from signalpack.score.io import (
    TIMESTAMP_RANGE,
    OhlcvReader,
    UnsortedInput,
    too_short_message,
)
from signalpack.score.windows import window_ends

__all__ = [
    "OUTPUT_COLUMNS",
    "Prepared",
    "ScoreSummary",
    "default_output_path",
    "infer",
    "parse_since",
    "prepare_frame",
    "score_file",
    "score_frame",
    "usable_cores",
]

_SIGNAL = pl.Enum(list(CLASS_NAMES))


@dataclass(frozen=True)
class Prepared:
    """A frame made ready for inference: window-end keys, C-order float64 bars [rows, 5], window ends."""

    keys: pl.DataFrame
    bars: np.ndarray
    ends: np.ndarray


def prepare_frame(
    frame: pl.DataFrame, window_rows: int, after: tuple[str, Any] | None = None, since: datetime | None = None
) -> Prepared:
    """Bars and window ends of ``frame`` (the CPU work before onnxruntime).

    window_rows : W, the rows one window reads (``Bundle.window_rows``).
    after : (symbol, timestamp) of the last row already scored: windows of that
        symbol ending at or before it are left out (a chunk's carried overlap).
    since : windows ending before it are left out (``score run --since``).
    """
    ends = window_ends(frame.get_column("symbol").rle_id().to_numpy(), window_rows)
    keys = frame.select("symbol", "timestamp")[ends]
    if after is not None and len(ends):
        sym, ts = after
        keep = ((keys.get_column("symbol") != sym) | (keys.get_column("timestamp") > ts)).to_numpy()
        ends, keys = ends[keep], keys.filter(pl.Series(keep))
    if since is not None and len(ends):
        keep = (keys.get_column("timestamp") >= since).to_numpy()
        ends, keys = ends[keep], keys.filter(pl.Series(keep))
    # C order once here: polars hands back column-major arrays, and windowing a
    # column-major matrix would copy the whole chunk for every batch.
    return Prepared(keys, bar_matrix(frame), ends)


def infer(
    prepared: Prepared, bundle: Bundle, batch_size: int = 512, pool: ThreadPoolExecutor | None = None
) -> pl.DataFrame:
    """Run the bundle over prepared windows in batches; returns ``OUTPUT_COLUMNS``.

    pool : threads that run batches concurrently on the bundle's session. With a
        single-threaded session this beats one session spread over the cores: no
        thread waits for another inside an operator, so other work on the machine
        (the feature thread) slows inference in proportion rather than stalling it.
        Each batch lands in its own rows, so the result does not depend on the pool.
    """
    width = bundle.window_rows
    ends = prepared.ends
    n = len(ends)
    probs = np.empty((n, N_CLASSES), dtype=np.float32)
    signal = np.empty(n, dtype=np.int64)
    conf = np.empty(n, dtype=np.float32)

    def run(start: int) -> None:
        stop = min(start + batch_size, n)
        out = bundle.session.run(
            [PROBABILITIES, SIGNAL, CONFIDENCE],
            {INPUT_NAME: gather_windows(prepared.bars, ends[start:stop], width)},
        )
        probs[start:stop], signal[start:stop], conf[start:stop] = out

    starts = range(0, n, batch_size)
    if pool is None or len(starts) < 2:
        for start in starts:
            run(start)
    else:
        for _ in pool.map(run, starts):  # re-raises a batch's exception here
            pass
    return prepared.keys.with_columns(
        *(pl.Series(name, probs[:, i]) for i, name in enumerate(PROB_COLUMNS)),
        pl.Series("signal", np.asarray(CLASS_NAMES)[signal], dtype=_SIGNAL),
        pl.Series("confidence", conf),
        pl.Series("actionable", conf >= np.float32(bundle.threshold)),
        pl.lit(bundle.model_id).alias("model_id"),
    )


def score_frame(
    frame: pl.DataFrame, bundle: Bundle, batch_size: int = 512, since: datetime | None = None
) -> pl.DataFrame:
    """Scores for every row of ``frame`` that has a full window (``bundle.window_rows`` rows of its symbol).

    The pure scoring core. frame : checked, (symbol, timestamp)-sorted OHLCV rows
    (``score.io``), whole symbol histories or chunks of them with their
    preceding rows. Returns columns ``OUTPUT_COLUMNS`` (symbol always present),
    in frame order. since : only windows ending at or after it (``score run --since``).
    """
    return infer(prepare_frame(frame, bundle.window_rows, since=since), bundle, batch_size)


@dataclass
class ScoreSummary:
    input: str
    output: str
    bundle_id: str
    rows_read: int = 0
    rows_scored: int = 0
    symbols: int = 0
    warmup_skipped: dict[str, int] = field(default_factory=dict)
    short_symbols: dict[str, int] = field(default_factory=dict)
    signal_distribution: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASS_NAMES, 0))
    actionable: int = 0
    sorted_in_memory: bool = False
    seconds: float = 0.0
    drift: dict[str, Any] | None = None
    """The drift statistics against the bundle's training reference (``score/drift.py``)."""
    data_quality: dict[str, Any] | None = None
    """Short and stale symbols, each symbol's first and last bar (``drift.SymbolRanges``)."""
    since: str | None = None
    """``--since`` as applied (ISO 8601, UTC), or None."""
    since_pushed_down: bool = False
    """Whether ``--since`` was pushed into the parquet reads (only the warm-up rows before it read)."""

    @property
    def drift_warning(self) -> str | None:
        """The one warning line when a drift feature's PSI is over the threshold, else None."""
        return drift_warning(self.drift) if self.drift is not None else None

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input, "output": self.output, "bundle_id": self.bundle_id,
            "rows_read": self.rows_read, "rows_scored": self.rows_scored, "symbols": self.symbols,
            "warmup_skipped": self.warmup_skipped, "short_symbols": self.short_symbols,
            "signal_distribution": self.signal_distribution, "actionable": self.actionable,
            "sorted_in_memory": self.sorted_in_memory,
            "seconds": round(self.seconds, 3), "rows_per_second": round(self.rows_per_second, 1),
            "drift": self.drift, "data_quality": self.data_quality,
            "since": self.since, "since_pushed_down": self.since_pushed_down,
        }

    def line(self) -> str:
        dist = ", ".join(f"{k} {v}" for k, v in self.signal_distribution.items())
        short = f", {len(self.short_symbols)} too short to score" if self.short_symbols else ""
        quality = self.data_quality or {}
        if quality.get("stale_symbols"):
            short += f", {len(quality['stale_symbols'])} ending before {quality['newest_bar']}"
        return (
            f"scored {self.rows_scored:,} of {self.rows_read:,} rows ({self.symbols} symbol"
            f"{'s' if self.symbols != 1 else ''}{short}; {self.rows_read - self.rows_scored:,} warm-up) "
            f"with {self.bundle_id} in {self.seconds:.1f} s ({self.rows_per_second:,.0f} rows/s): "
            f"{dist}; {self.actionable:,} actionable → {self.output}"
        )


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_output_path(input_path: Path) -> Path:
    """``<input stem>.signals.parquet`` beside the input (``prices.csv.gz`` → ``prices.signals.parquet``);
    ``<folder>.signals.parquet`` beside a folder input; a glob input has none (ConfigError: give --output)."""
    folder = default_output(input_path)
    if folder is not None:
        return folder
    name = input_path.name
    for suffix in (".csv.gz", ".parquet", ".csv", ".gz", ".pq"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return input_path.with_name(f"{name}.signals.parquet")


def parse_since(text: str) -> datetime:
    """``--since DATE``: YYYY-MM-DD, optionally with a time (ISO 8601; an offset is converted to UTC),
    as the naive UTC datetime the scored timestamps are compared with."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since {printable(repr(text), 60)}: not a date; give YYYY-MM-DD, optionally with a time "
            "(YYYY-MM-DDTHH:MM[:SS])"
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    if not TIMESTAMP_RANGE[0] <= when.date().isoformat() <= TIMESTAMP_RANGE[1]:
        raise ConfigError(f"--since {when.date()}: outside the supported dates {TIMESTAMP_RANGE[0]} to {TIMESTAMP_RANGE[1]}")
    return when


def _chunks(reader: DatasetReader | OhlcvReader, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Re-block the reader's batches into frames of about ``chunk_rows`` rows."""
    pending: list[pl.DataFrame] = []
    size = 0
    for batch in reader:
        pending.append(batch)
        size += batch.height
        if size >= chunk_rows:
            yield pl.concat(pending, rechunk=True)
            pending, size = [], 0
    if pending:
        yield pl.concat(pending, rechunk=True)


SORT_RUN_CHUNKS = 4
"""Unsorted input is sorted in runs of this many chunks (``chunk_rows``): the sort's memory follows the chunk size."""


@contextlib.contextmanager
def _sorted_out_of_core(
    dataset: Dataset, out: Path | str, tmp: Path, chunk_rows: int, since: datetime | None = None, warmup: int = 0
) -> Iterator[tuple[Iterator[pl.DataFrame], DatasetReader]]:
    """The input's checked rows re-read and sorted by (symbol, timestamp) out of core, as chunks, and the reader.

    The sort spills to ``<tmp>.sort`` beside the output (a ``TMP_MARK`` name, so a killed
    run's folder is found by ``clean_stale``), removed on every exit from the block.
    """
    spill = tmp.with_name(tmp.name + ".sort")
    spill.mkdir()
    try:
        # every file of a dataset, one after another, with row numbers global to the dataset
        reader = DatasetReader(dataset, batch_rows=min(chunk_rows, 250_000), ordered=False,
                               since=since, warmup=warmup)
        frames = external_sort(reader, spill, str(out), run_rows=SORT_RUN_CHUNKS * chunk_rows,
                               on_duplicate=reader.duplicate_error)
        yield _chunks(frames, chunk_rows), reader  # type: ignore[arg-type]
    finally:
        # One SIGINT can raise twice: polars (which installs its own SIGINT handler when imported) stops its
        # query with a KeyboardInterrupt, then run_app's handler raises again, possibly here. So the first
        # statement is inside a try, and an interrupted removal is finished before the exception goes on.
        try:
            shutil.rmtree(spill, ignore_errors=True)
        except BaseException:  # re-raised once the removal is finished
            shutil.rmtree(spill, ignore_errors=True)
            raise


def _prepared(
    chunks: Iterator[pl.DataFrame], window_rows: int, since: datetime | None = None
) -> Iterator[tuple[pl.DataFrame, Prepared]]:
    """Each chunk with its preparation, carrying the overlap of the symbol it continues."""
    overlap = window_rows - 1
    carry: pl.DataFrame | None = None
    for chunk in chunks:
        if carry is None:
            frame, after = chunk, None
        else:
            frame = pl.concat([carry, chunk], rechunk=True)
            after = (carry.get_column("symbol")[-1], carry.get_column("timestamp")[-1])
        yield chunk, prepare_frame(frame, window_rows, after, since)
        last_sym = frame.get_column("symbol")[-1]
        carry = frame.filter(pl.col("symbol") == last_sym).tail(overlap)


def _prefetch(items: Iterator[Any]) -> Iterator[Any]:
    """Run ``items`` one step ahead in a thread, so reading and features overlap inference.

    At most one prepared chunk waits (memory stays bounded); an exception in the
    thread is re-raised here; leaving early stops the thread.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))

    t = threading.Thread(target=work, name="signalpack-prefetch", daemon=True)
    t.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        t.join(timeout=5)


def _stream(
    chunks: Iterator[pl.DataFrame], bundle: Bundle, batch_size: int,
    parts: Path, summary: ScoreSummary, has_symbol: Callable[[], bool],
    progress: Callable[[int], None] | None, pool: ThreadPoolExecutor | None, since: datetime | None = None,
) -> list[Path]:
    counts: dict[str, int] = {}
    scored: dict[str, int] = {}
    files: list[Path] = []
    drift = DriftAccumulator(bundle.drift_reference)
    ranges = SymbolRanges()

    def finish(chunk: pl.DataFrame, scores: pl.DataFrame, prepared: Prepared) -> None:
        """Count and write one chunk's scores (in a thread, while the next chunk is inferred)."""
        drift.add(prepared.bars, prepared.ends)  # the drift features at the scored rows (bounded: bin counts)
        ranges.add(chunk)
        for sym, n in chunk.group_by("symbol", maintain_order=True).len().iter_rows():
            counts[sym] = counts.get(sym, 0) + n
        for sym, n in scores.group_by("symbol", maintain_order=True).len().iter_rows():
            scored[sym] = scored.get(sym, 0) + n
        for sig, n in scores.group_by("signal").len().iter_rows():
            summary.signal_distribution[str(sig)] += n
        summary.actionable += int(scores.get_column("actionable").sum())
        if scores.height:
            path = parts / f"part-{len(files):06d}.parquet"
            with _os_errors():
                (scores if has_symbol() else scores.drop("symbol")).write_parquet(path, statistics=False)
            files.append(path)
        summary.rows_read += chunk.height
        if progress is not None:
            progress(summary.rows_read)

    # one chunk in writing at a time, in order; its exception surfaces at the next .result()
    with ThreadPoolExecutor(1, thread_name_prefix="signalpack-write") as writer:
        pending: Future[None] | None = None
        for chunk, prepared in _prefetch(_prepared(chunks, bundle.window_rows, since)):
            scores = infer(prepared, bundle, batch_size, pool)
            if pending is not None:
                pending.result()
            pending = writer.submit(finish, chunk, scores, prepared)
        if pending is not None:
            pending.result()
    summary.symbols = sum(1 for s in counts if scored.get(s, 0))
    summary.rows_scored = sum(scored.values())
    summary.short_symbols = {s: n for s, n in counts.items() if not scored.get(s, 0)}
    summary.warmup_skipped = {s: n - scored.get(s, 0) for s, n in counts.items()}
    summary.drift = drift.result()
    summary.data_quality = ranges.result(counts, scored)
    return files


def score_file(
    input_path: str | os.PathLike[str], bundle: Bundle, output: str | os.PathLike[str] | None = None, *,
    batch_size: int = 512, chunk_rows: int = 100_000, overwrite: bool = False, threads: int = 1,
    progress: Callable[[int], None] | None = None, since: datetime | None = None,
) -> ScoreSummary:
    """Score a whole file into one parquet file, atomically; see the module docstring.

    An existing output is refused unless ``overwrite``; with it, the old file
    stays in place until the new one is complete. Rows of symbols too short for
    one window are counted in the summary (``short_symbols``), not an error,
    unless no row of the file can be scored. threads : concurrent onnxruntime
    runs (see ``infer``; give the bundle a single-threaded session for them).
    since : output only windows ending at or after it (``parse_since``); per symbol only the
        W - 1 warm-up rows before it are needed, and for parquet only those are read (``since_filters``).
    """
    started = time.monotonic()
    spec = os.fspath(input_path)
    remote_in = objstore.is_uri(spec)
    if remote_in:
        objstore.check_uri(spec, dataset=True)
    input_path = spec if remote_in else Path(spec)  # type: ignore[assignment]
    out: Path | str
    if output is not None:
        out = os.fspath(output) if objstore.is_uri(os.fspath(output)) else Path(output)
    else:
        out = objstore.default_output(spec) if remote_in else default_output_path(Path(spec))
    remote_out = isinstance(out, str)
    if remote_out:
        objstore.check_destination(out, overwrite)  # before any work: no clobbering without --overwrite
    min_rows = bundle.window_rows
    summary = ScoreSummary(str(input_path), str(out), bundle.model_id)
    if (out == input_path) if (remote_in or remote_out) else same_file(out, input_path):
        raise OutputError(f"{out}: is the input file; choose another --output")
    dataset = resolve_input(input_path)  # a file, or a folder, glob or hive dataset (score.datasets)
    if remote_out == remote_in and dataset.contains(out):
        raise OutputError(f"{out}: is inside the input dataset {dataset.spec}; choose an --output outside it")
    reader = DatasetReader(dataset, batch_rows=min(chunk_rows, 250_000), since=since, warmup=min_rows - 1)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="signalpack-infer") if threads > 1 else None
    # local: parts and the combined file beside the destination, renamed into place (atomic);
    # s3://: parts in a private temporary folder, then one upload completed last (complete or absent)
    target = objstore.temporary_target() if remote_out else atomic_path(out, overwrite=overwrite)
    with pool or contextlib.nullcontext(), target as tmp:
        parts = tmp.with_name(tmp.name + ".parts")
        parts.mkdir()
        try:
            try:
                files = _stream(_chunks(reader, chunk_rows), bundle, batch_size, parts, summary,
                                lambda: reader.has_symbol, progress, pool, since)
            except UnsortedInput:
                # not in (symbol, timestamp) order: sort out of core (memory follows chunk_rows, not the file)
                shutil.rmtree(parts)
                parts.mkdir()
                summary = ScoreSummary(str(input_path), str(out), bundle.model_id, sorted_in_memory=True)
                with _sorted_out_of_core(dataset, out, tmp, chunk_rows, since, min_rows - 1) as (chunks, unsorted):
                    files = _stream(chunks, bundle, batch_size, parts, summary,
                                    lambda: unsorted.has_symbol, progress, pool, since)
                    summary.since_pushed_down = unsorted.pushed_down
            else:
                summary.since_pushed_down = reader.pushed_down
            summary.since = since.isoformat() if since is not None else None
            if not summary.rows_scored and since is not None:
                raise DataError(f"{dataset.name}: no window ends at or after --since {since}: nothing to score")
            if not summary.rows_scored:
                longest = max(summary.warmup_skipped.values(), default=0)
                raise DataError(too_short_message(dataset.name, reader.has_symbol, longest, min_rows))
            if remote_out:
                objstore.write_parts(files, str(out))
            else:
                _combine(files, tmp)
        finally:
            shutil.rmtree(parts, ignore_errors=True)
    summary.seconds = time.monotonic() - started
    return summary


def _combine(files: list[Path], tmp: Path) -> None:
    """One parquet file from the parts, streamed (memory bounded by a part, not the total)."""
    with _os_errors():
        pl.scan_parquet(files).sink_parquet(tmp, statistics=False, maintain_order=True)


_OS_ERROR = re.compile(r"os error (\d+)")


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    """A write polars failed for an OS reason (a full disk, a vanished folder) raised as that ``OSError``.

    polars reports them as a ``PolarsError`` (``ComputeError`` for a full disk) carrying
    the OS error's text; as an ``OSError`` it reaches ``atomic_path``, which removes the
    temporaries and raises one ``OutputError`` line naming the destination, not the
    temporary file.
    """
    try:
        yield
    except pl.exceptions.PolarsError as exc:
        text = str(exc)
        found = _OS_ERROR.search(text)
        if found is None and "No space left on device" not in text:
            raise
        code = int(found.group(1)) if found else errno.ENOSPC
        raise OSError(code, os.strerror(code)) from exc
