"""Walk-forward evaluation: expanding folds that are chronological, purged and non-overlapping."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest

from signalpack.errors import ConfigError, DataError
from signalpack.train.config import SplitConfig, TrainConfig
from signalpack.train.pipeline import WALK_FORWARD_FIGURES
from signalpack.train.split import walk_forward_cuts


def _ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def test_folds_are_chronological_purged_and_non_overlapping(tiny_walk_forward):
    wf = tiny_walk_forward.metadata["walk_forward"]
    folds = wf["folds"]
    assert wf["k"] == len(folds) == 3 and wf["scheme"] == "expanding"
    for f in folds:
        seg, cuts = f["segments"], f["cuts"]
        train, val, test = seg["train"], seg["validation"], seg["test"]
        # chronological, with every sample's label read before the next segment starts (the purge)
        assert _ts(train["start"]) <= _ts(train["end"]) < _ts(cuts["validation_start"]) <= _ts(val["start"])
        assert _ts(train["last_label_end"]) < _ts(cuts["validation_start"])
        assert _ts(val["end"]) < _ts(cuts["test_start"]) <= _ts(test["start"])
        assert _ts(val["last_label_end"]) < _ts(cuts["test_start"])
        if cuts["test_end_before"] is not None:
            assert _ts(test["end"]) < _ts(cuts["test_end_before"])
        assert min(train["windows"], val["windows"], test["windows"]) > 0
    # expanding: same start, training end moves forward; test parts follow each other without overlap
    assert len({f["segments"]["train"]["start"] for f in folds}) == 1
    for a, b in zip(folds, folds[1:], strict=False):
        assert _ts(a["segments"]["train"]["end"]) < _ts(b["segments"]["train"]["end"])
        assert _ts(a["segments"]["test"]["end"]) < _ts(b["segments"]["test"]["start"])
        assert a["cuts"]["test_end_before"] == b["cuts"]["test_start"]
    assert folds[-1]["cuts"]["test_end_before"] is None


def test_fold_files_hold_only_their_test_part(tiny_walk_forward):
    run = tiny_walk_forward.run_dir
    previous_end = None
    for f in tiny_walk_forward.metadata["walk_forward"]["folds"]:
        folder = run / "walk_forward" / f"fold_{f['fold']}"
        pred = pl.read_csv(folder / "predictions.csv", try_parse_dates=True)
        equity = pl.read_csv(folder / "equity.csv", try_parse_dates=True)
        lo, hi = pred["timestamp"].min(), pred["timestamp"].max()
        assert lo >= _ts(f["cuts"]["test_start"])
        if f["cuts"]["test_end_before"] is not None:
            assert hi < _ts(f["cuts"]["test_end_before"])
        if previous_end is not None:
            assert lo > previous_end
        previous_end = hi
        labelled = pred.filter(pl.col("label").is_not_null())
        assert labelled.height == f["metrics"]["ensemble"]["n"]
        assert equity.height == pred.height
        assert {"run", "total_return"} <= set(pl.read_csv(folder / "random_returns.csv").columns)


def test_aggregate_is_mean_and_sample_std_of_the_folds(tiny_walk_forward):
    wf = tiny_walk_forward.metadata["walk_forward"]
    agg = wf["aggregate"]
    assert len(agg) == len(WALK_FORWARD_FIGURES)
    values = [f["metrics"]["ensemble"]["balanced_accuracy"] for f in wf["folds"]]
    a = agg["ensemble.balanced_accuracy"]
    assert a["values"] == values
    assert a["mean"] == pytest.approx(np.mean(values)) and a["std"] == pytest.approx(np.std(values, ddof=1))
    bh = [f["simulation"]["buy_and_hold"]["total_return"] for f in wf["folds"]]
    assert agg["buy_and_hold.total_return"]["values"] == bh


def test_walk_forward_cuts_split_the_labelled_timeline_into_equal_blocks():
    ts = pl.Series(np.datetime64("2020-01-01") + np.arange(1200).astype("timedelta64[D]")).cast(pl.Datetime("us"))
    cuts = walk_forward_cuts(ts, 5, SplitConfig())
    starts = [c.test for c in cuts]
    assert starts == [ts[200 * (i + 1)] for i in range(5)]
    assert [c.end for c in cuts] == [*starts[1:], None]
    share = SplitConfig().validation / (SplitConfig().train + SplitConfig().validation)
    assert cuts[2].validation == ts[int(600 * (1 - share))]


def test_walk_forward_refuses_too_few_rows_and_bad_k():
    ts = pl.Series(np.datetime64("2020-01-01") + np.arange(4).astype("timedelta64[D]")).cast(pl.Datetime("us"))
    with pytest.raises(DataError, match="too short for 5 walk-forward folds"):
        walk_forward_cuts(ts, 5, SplitConfig())
    with pytest.raises(ConfigError, match="split.walk_forward"):
        TrainConfig().with_overrides(split__walk_forward=1)
    with pytest.raises(ConfigError, match="split.walk_forward"):
        TrainConfig().with_overrides(split__walk_forward=21)


def test_walk_forward_metadata_matches_its_schema(tiny_walk_forward):
    import jsonschema

    from signalpack.schemas import load_schema

    jsonschema.validate(tiny_walk_forward.metadata, load_schema("metadata"))



def test_features_and_labels_are_computed_once_per_run(tiny_walk_forward):
    """The main split and every fold share one feature/label computation (it was 2K+2 before)."""
    from tests.conftest import WALK_FORWARD_CALLS

    assert tiny_walk_forward.metadata["walk_forward"]["k"] == 3
    assert WALK_FORWARD_CALLS == {"features": 1, "labels": 1}


def test_every_fold_has_a_verdict_and_the_count_adds_up(tiny_walk_forward):
    wf = tiny_walk_forward.metadata["walk_forward"]
    verdicts = [f["verdict"] for f in wf["folds"]]
    assert all(isinstance(v["model_skill"], bool) and isinstance(v["reasons"], list) for v in verdicts)
    count = wf["skill_count"]
    assert count["folds"] == wf["k"] == len(verdicts)
    assert count["model_skill"] == sum(v["model_skill"] for v in verdicts)
    assert count["strategy_judged"] == sum(v["strategy_skill"] is not None for v in verdicts)
    assert count["strategy_skill"] == sum(v["strategy_skill"] is True for v in verdicts)
    assert f"model skill in {count['model_skill']} of {wf['k']} folds" in count["text"]
    # the members start as the training windows' logistic regression: every fold says how many moved
    # past it, and a fold that fails the learning rule is not called skilled
    for v in verdicts:
        assert any("starting logistic regression" in r for r in v["remarks"]), v["remarks"]
        assert not (any("did not learn beyond the class prior" in r for r in v["reasons"]) and v["model_skill"])
