"""Sort checked OHLCV batches by (symbol, timestamp) out of core: memory bounded by a budget of rows, not by the file.

``score_file`` streams input that is already in (symbol, timestamp) order; any other
input comes here (``OhlcvReader(..., ordered=False)`` batches, each with its file row
index ``__row``):

1. **Runs**: batches are gathered into runs of ``run_rows`` rows, each sorted in memory
   by (symbol, timestamp, __row) and spilled as parquet blocks of ``block_rows`` rows
   into a folder the caller owns (beside the output; the caller removes it).
2. **Merge passes**: while there are more than ``fan_in`` runs, groups of ``fan_in``
   runs are merged into one longer run (again blocks), so the final merge never holds
   more than ``fan_in`` blocks.
3. **Final merge**: a k-way merge of the runs' blocks, yielded as sorted frames. Each
   step takes, from every run's current block, the rows up to the smallest of the
   blocks' last keys — those rows are final, since every later row of every run is
   larger — and sorts them; at least one block is used up per step. A block's file is
   deleted once read, so the spill never holds the data twice for long.

Keys (symbol, timestamp, __row) are unique, so the order is total and equals a stable
in-memory sort by (symbol, timestamp): the output is the same frame, row for row,
that ``load_ohlcv`` sorts in memory. Duplicate (symbol, timestamp) pairs are adjacent
after the merge and are reported with both file rows (``on_duplicate``).

Memory: a run (``run_rows`` rows, sorted once), or ``fan_in`` blocks plus one step's
output (about 2 x ``run_rows`` rows); disk: about the input's checked columns, as
compressed parquet. Measured in tests/score/test_memory.py.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from signalpack.errors import OutputError
from signalpack.score.io import ROW_COLUMN

__all__ = ["external_sort", "merge_passes", "merged_frames", "spill_runs", "unique_keys"]

KEYS = ("symbol", "timestamp", ROW_COLUMN)

Run = list[Path]
"""A sorted run: its block files, in order."""


class _Spill:
    """Names and writes the block files of the spill folder; a failed write becomes one OutputError line."""

    def __init__(self, folder: Path, dest: str) -> None:
        self.folder, self.dest, self.count = folder, dest, 0

    def write(self, frame: pl.DataFrame) -> Path:
        path = self.folder / f"block-{self.count:07d}.parquet"
        self.count += 1
        # encoded in memory (a block is small), written by Python: a full disk is then a real OSError
        # (ENOSPC), where polars reports it as whatever broke first ("Invalid thrift: transport error")
        buf = io.BytesIO()
        frame.write_parquet(buf, compression="lz4", statistics=False)
        try:
            with open(path, "wb") as fh:
                fh.write(buf.getbuffer())
        except OSError as exc:
            raise OutputError(f"{self.dest}: cannot write ({exc.strerror or exc}) while sorting the input") from exc
        return path

    def run(self, frames: Iterable[pl.DataFrame], block_rows: int) -> Run:
        """Write sorted ``frames`` as one run of blocks of ``block_rows`` rows."""
        blocks: Run = []
        pending: list[pl.DataFrame] = []
        size = 0
        for frame in frames:
            pending.append(frame)
            size += frame.height
            while size >= block_rows:
                whole = pl.concat(pending, rechunk=True) if len(pending) > 1 else pending[0]
                blocks.append(self.write(whole.slice(0, block_rows)))
                rest = whole.slice(block_rows)
                pending, size = ([rest] if rest.height else []), rest.height
        if size:
            blocks.append(self.write(pl.concat(pending, rechunk=True)))
        return blocks


def _read_block(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    with contextlib.suppress(OSError):
        path.unlink()
    return frame


def spill_runs(batches: Iterable[pl.DataFrame], spill: _Spill, run_rows: int, block_rows: int) -> list[Run]:
    """Pass 1: sorted runs of about ``run_rows`` rows each."""
    runs: list[Run] = []
    pending: list[pl.DataFrame] = []
    size = 0

    def flush() -> None:
        nonlocal pending, size
        if size:
            run = pl.concat(pending, rechunk=True).sort(list(KEYS))
            pending, size = [], 0
            runs.append(spill.run([run], block_rows))

    for batch in batches:
        if batch.height:
            pending.append(batch)
            size += batch.height
        if size >= run_rows:
            flush()
    flush()
    return runs


def _last_key(frame: pl.DataFrame) -> tuple[str, int, int]:
    row = frame.select(pl.col("symbol").last(), pl.col("timestamp").to_physical().last(),
                       pl.col(ROW_COLUMN).cast(pl.Int64).last()).row(0)
    return row[0], row[1], row[2]


def _rows_up_to(frame: pl.DataFrame, key: tuple[str, int, int]) -> int:
    """How many leading rows of the sorted ``frame`` are <= ``key`` (a prefix, since the frame is sorted)."""
    sym, ts, row = key
    s, t, r = pl.col("symbol"), pl.col("timestamp").to_physical(), pl.col(ROW_COLUMN).cast(pl.Int64)
    le = (s < sym) | ((s == sym) & ((t < ts) | ((t == ts) & (r <= row))))
    return int(frame.select(le.sum()).item())


def merged_frames(runs: list[Run]) -> Iterator[pl.DataFrame]:
    """K-way merge of sorted runs (block files, deleted once read): sorted frames of at most
    about ``len(runs)`` blocks each."""
    queues = [deque(run) for run in runs]
    heads: list[pl.DataFrame | None] = [_read_block(q.popleft()) if q else None for q in queues]
    while True:
        active = [i for i, h in enumerate(heads) if h is not None]
        if not active:
            return
        if len(active) == 1:
            i = active[0]
            yield heads[i]  # type: ignore[misc]
            while queues[i]:
                yield _read_block(queues[i].popleft())
            return
        bound = min(_last_key(heads[i]) for i in active)  # type: ignore[arg-type]
        taken = []
        for i in active:
            head = heads[i]
            assert head is not None
            k = _rows_up_to(head, bound)
            if k:
                taken.append(head.slice(0, k))
            if k == head.height:
                heads[i] = _read_block(queues[i].popleft()) if queues[i] else None
            else:
                heads[i] = head.slice(k)
        yield pl.concat(taken, rechunk=True).sort(list(KEYS))


def merge_passes(runs: list[Run], spill: _Spill, fan_in: int, block_rows: int) -> list[Run]:
    """Merge groups of ``fan_in`` runs until at most ``fan_in`` runs are left."""
    while len(runs) > fan_in:
        runs = [spill.run(merged_frames(runs[i:i + fan_in]), block_rows) for i in range(0, len(runs), fan_in)]
    return runs


def unique_keys(frames: Iterable[pl.DataFrame], on_duplicate: Callable[[str, Any, int, int], BaseException]
                ) -> Iterator[pl.DataFrame]:
    """Sorted frames without the row column, after checking no (symbol, timestamp) repeats.

    on_duplicate(symbol, timestamp, first_row, second_row) : the exception to raise (rows 0-based).
    """
    last: tuple[str, Any, int] | None = None
    for frame in frames:
        if not frame.height:
            continue
        sym, ts, row = frame.get_column("symbol"), frame.get_column("timestamp"), frame.get_column(ROW_COLUMN)
        if last is not None and sym[0] == last[0] and ts[0] == last[1]:
            raise on_duplicate(last[0], last[1], last[2], int(row[0]))
        dup = (sym == sym.shift(1)) & (ts == ts.shift(1))
        if dup.any():
            i = int(dup.arg_true()[0])
            raise on_duplicate(sym[i], ts[i], int(row[i - 1]), int(row[i]))
        last = (sym[-1], ts[-1], int(row[-1]))
        yield frame.drop(ROW_COLUMN)


def external_sort(
    batches: Iterable[pl.DataFrame], folder: Path, dest: str, *, run_rows: int,
    on_duplicate: Callable[[str, Any, int, int], BaseException], fan_in: int = 16,
) -> Iterator[pl.DataFrame]:
    """Sort ``batches`` (checked OHLCV rows with ``ROW_COLUMN``) by (symbol, timestamp), spilling to ``folder``.

    Runs and merge passes happen now, in the calling thread (so an interruption stops
    the writing before the caller removes ``folder``); the returned iterator does the
    final merge lazily and only reads (and deletes) blocks. dest : the output, named in
    a write error. Yields frames without ``ROW_COLUMN``, in (symbol, timestamp) order.
    """
    if run_rows < fan_in:
        raise ValueError(f"run_rows {run_rows} is below fan_in {fan_in}")
    block_rows = max(1, run_rows // fan_in)
    spill = _Spill(folder, dest)
    runs = merge_passes(spill_runs(batches, spill, run_rows, block_rows), spill, fan_in, block_rows)
    return unique_keys(merged_frames(runs), on_duplicate)
