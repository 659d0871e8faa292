"""Issue 15, item 1 (Spark): folder, glob and hive inputs, parquet and CSV, through `--engine spark`
give the rows of the single concatenated file's local output (``test_datasets``' layouts of the
same real bars); the local engine's dataset checks apply."""

from __future__ import annotations

import polars as pl
import pytest

from signalpack.errors import DataError, OutputError
from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
from signalpack.score.runner import score_file
from signalpack.score.spark_engine import score_spark
from tests.score.test_datasets import BARS, LAYOUTS, _as_file, _hive_symbol
from tests.score.test_spark_engine import pytestmark  # noqa: F401  (slow, needs Java)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pl.DataFrame:
    folder = tmp_path_factory.mktemp("reference")
    _as_file(BARS, folder / "all.parquet")
    score_file(folder / "all.parquet", load_bundle(DEFAULT_BUNDLE), folder / "out.parquet")
    return pl.read_parquet(folder / "out.parquet").with_columns(pl.col("signal").cast(pl.String))


# Spark's own reader (a folder), the executors' reader on a glob and on hive datasets (by symbol, and by
# date with every symbol in every file), parquet and CSV; test_datasets runs every layout on the local engine
CASES = [("folder by symbol", ".parquet"), ("glob by year", ".parquet"), ("hive date=, files unsorted", ".parquet"),
         ("folder by year", ".csv"), ("hive symbol=/date=", ".csv")]


@pytest.mark.parametrize(("layout", "suffix"), CASES)
def test_every_layout_gives_the_single_file_rows(spark, reference, tmp_path, layout, suffix):
    write, spec, _ = LAYOUTS[layout]
    root = tmp_path / "prices"
    write(root, suffix)
    out = tmp_path / "out"
    summary = score_spark(spec.format(root=root, suffix=suffix), DEFAULT_BUNDLE, str(out), spark=spark)
    got = pl.read_parquet(out / "*.parquet").sort("symbol", "timestamp")
    assert got.schema == reference.schema
    assert got.equals(reference.sort("symbol", "timestamp"))
    assert summary.rows_read == BARS.height and summary.rows_scored == reference.height


def test_dataset_checks_apply(spark, tmp_path):
    _hive_symbol(tmp_path / "prices", ".parquet")
    with pytest.raises(OutputError, match="is inside the input dataset"):
        score_spark(str(tmp_path / "prices"), DEFAULT_BUNDLE, str(tmp_path / "prices" / "out"), spark=spark)
    # a file with a symbol column beside files whose symbol comes from nowhere: refused on the driver
    mixed = tmp_path / "mixed"
    _as_file(BARS.filter(pl.col("symbol") == "GOOG"), mixed / "a.csv")
    _as_file(BARS.filter(pl.col("symbol") == "SPX"), mixed / "b.csv", symbol=False)
    with pytest.raises(DataError, match="b.csv: has no symbol column, but a.csv has one"):
        score_spark(str(mixed), DEFAULT_BUNDLE, str(tmp_path / "o1"), spark=spark)
    # a bad value inside one CSV file of a folder: the local engine's message, naming that file
    bad = tmp_path / "bad"
    _as_file(BARS.filter(pl.col("symbol") == "GOOG"), bad / "a.csv")
    rows = BARS.filter(pl.col("symbol") == "SPX").with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(-1.0).otherwise(pl.col("close")).alias("close"))
    _as_file(rows, bad / "b.csv")
    with pytest.raises(DataError, match=r"b\.csv.*close.*prices must be positive"):
        score_spark(str(bad), DEFAULT_BUNDLE, str(tmp_path / "o2"), spark=spark)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "mixed", "prices"]
