"""`score run --log-format json` (issue 15, item 4): one JSON event per stderr line, each valid against
schemas/score_log.schema.json, nothing else on stderr, exit codes unchanged."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jsonschema
import numpy as np
import polars as pl
import pytest
import typer

from signalpack.score import logs
from signalpack.score.cli import Signalled, run_app
from signalpack.score.io import load_ohlcv
from tests.conftest import GOOG, ROOT, SP500

SCHEMA = json.loads((ROOT / "schemas" / "score_log.schema.json").read_text(encoding="utf-8"))
EVENT_FIELDS = {
    "start": {"input", "output", "model", "engine", "version"},
    "progress": {"rows_read", "rows_per_second"},
    "warning": {"kind"},
    "summary": {"summary"},
    "error": {"exit_code", "error"},
}


def _score_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def _events(stderr: str) -> list[dict]:
    """Every stderr line parsed and checked: valid JSON, valid against the schema, the event's own fields
    present (what the schema, limited to fastjsonschema's keywords, cannot require), printable, recent."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    events = []
    assert stderr.endswith("\n"), stderr
    for line in stderr.splitlines():
        assert line.isprintable() and line.isascii(), line
        event = json.loads(line)
        validator.validate(event)
        assert EVENT_FIELDS[event["event"]] <= set(event), event
        when = datetime.fromisoformat(event["time"])
        assert abs(datetime.now(UTC) - when) < timedelta(minutes=10)
        events.append(event)
    return events


def _summary_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": "#/$defs/summary", "required": [],
                                            "properties": {}, "additionalProperties": True})


def test_schema_uses_only_the_keywords_signalpack_validates():
    from signalpack.schemas import _check_keywords

    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    _check_keywords(SCHEMA, SCHEMA, "score_log")


def test_a_drifting_run_logs_start_progress_warning_and_summary(tiny_export, tmp_path):
    frame = load_ohlcv(SP500).frame
    c0 = float(frame.get_column("close")[0])
    doubled = frame.with_columns((2 * pl.col(c).log() - np.log(c0)).exp().alias(c)
                                 for c in ("open", "high", "low", "close"))
    src = tmp_path / "doubled.parquet"
    doubled.drop("symbol").write_parquet(src)
    out, summary = tmp_path / "out.parquet", tmp_path / "s.json"
    r = _score_cli("run", str(src), "--model", str(tiny_export.bundle), "-o", str(out), "--summary", str(summary),
                   "--log-format", "json", "--fail-on-drift", "--chunk-rows", "1000")
    assert r.returncode == 3 and r.stdout == "", r.stderr  # drift with --fail-on-drift; the output still written
    events = _events(r.stderr)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-2:] == ["warning", "summary"], kinds
    assert set(kinds[1:-2]) == {"progress"}  # the first chunk at least (then one per 5 s)
    start, warning, done = events[0], events[-2], events[-1]
    assert start["input"] == str(src) and start["output"] == str(out) and start["engine"] == "local"
    assert events[1]["rows_read"] == 1000
    assert warning["kind"] == "drift" and {"vol_20", "bar_range"} <= set(warning["drifted"])
    assert warning["message"].startswith("drift: psi ") and "(> 0.25)" in warning["message"]
    written = json.loads(summary.read_text())
    assert done["summary"] == written and done["message"].startswith("scored ")
    _summary_validator().validate(written)
    assert pl.read_parquet(out).height == written["rows_scored"] == frame.height - 58


def test_a_clean_run_logs_start_progress_and_summary(tmp_path):
    src = tmp_path / "sp500.csv.gz"  # the default bundle's own training data: no drift
    src.write_bytes(SP500.read_bytes())
    r = _score_cli("run", str(src), "--log-format=json", "--summary", str(tmp_path / "s.json"))
    assert r.returncode == 0 and r.stdout == "", r.stderr
    events = _events(r.stderr)
    assert [e["event"] for e in events] == ["start", "progress", "summary"]
    drift = events[-1]["summary"]["drift"]
    assert drift["available"] and drift["drifted"] == []
    _summary_validator().validate(json.loads((tmp_path / "s.json").read_text()))


@pytest.mark.parametrize(("args", "code", "error", "needle"), [
    (["run", "{missing}", "--log-format", "json"], 2, "InputError", "missing.csv: no such file"),
    (["run", "{bad}", "--log-format", "json"], 2, "DataError", r"column 'Close' row 1 (line 2) value '\x1b[31mnot"),
    (["run", "{bad}", "--log-format", "json", "--no-such-option"], 2, "usage", "No such option: --no-such-option"),
    (["run", "{bad}", "--log-format", "json", "--chunk-rows", "5"], 2, "usage", "--chunk-rows"),
    (["run", "{bad}", "--log-format", "json", "--engine", "\x1b[31mred"], 2, "ConfigError", "--engine"),
])
def test_failures_are_one_error_event(tmp_path, args, code, error, needle):
    bad = tmp_path / "bad.csv"
    lines = GOOG.read_text().splitlines()[:100]
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index("Close")] = "\x1b[31mnot a number"  # quoted in the message: escaped, never raw
    bad.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    argv = [a.format(missing=tmp_path / "missing.csv", bad=bad) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    r = _score_cli(*argv)
    assert r.returncode == code and r.stdout == "", r.stderr
    assert "\x1b" not in r.stderr and "Traceback" not in r.stderr
    events = _events(r.stderr)
    assert events[-1]["event"] == "error" and [e["event"] for e in events[:-1]] in ([], ["start"])
    assert events[-1]["exit_code"] == code and events[-1]["error"] == error
    assert needle in events[-1]["message"], events[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial output


def test_text_is_the_default_and_an_unknown_format_is_a_usage_error(tmp_path):
    src = tmp_path / "sp500.csv.gz"  # no drift: the summary line alone
    src.write_bytes(SP500.read_bytes())
    r = _score_cli("run", str(src), "--log-format", "xml")
    assert r.returncode == 2 and r.stderr == "score: error: --log-format 'xml' is not known; use text or json\n"
    r = _score_cli("run", str(src))
    assert r.returncode == 0 and r.stderr.startswith("scored ") and len(r.stderr.splitlines()) == 1


def _interrupting_app(signum: int) -> typer.Typer:
    """A command interrupted midway, as run_app's signal handler does it to `score run` (``Signalled``)."""
    app = typer.Typer(add_completion=False)

    @app.command()
    def run(log_format: str = typer.Option("text", "--log-format")) -> None:
        logs.configure(logs.EventLog(log_format))
        raise Signalled(signum)

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize("fmt", ["json", "text"])
@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_a_signalled_run_ends_with_an_error_event(fmt, signum, word, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "argv", ["score", "run", "--log-format", fmt])
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit) as info:
        run_app(_interrupting_app(signum), "score", log_option=True)
    assert info.value.code == 128 + signum
    if fmt == "text":
        assert err.getvalue() == f"score: {word}\n"
    else:
        (event,) = _events(err.getvalue())
        assert event["event"] == "error" and event["exit_code"] == 128 + signum and event["error"] == word
    assert logs.active() is None  # reset for whatever runs next in this process


def test_python_warnings_become_events_and_the_hook_is_restored():
    import warnings

    out = io.StringIO()
    before = warnings.showwarning
    logs.configure(logs.EventLog("json", out))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("old \x1b[2J api", DeprecationWarning, stacklevel=1)
    finally:
        logs.configure(None)
    assert warnings.showwarning is before
    (event,) = _events(out.getvalue())
    assert event["event"] == "warning" and event["kind"] == "runtime"
    assert event["message"] == "DeprecationWarning: old \\x1b[2J api"


def test_progress_events_are_throttled():
    out = io.StringIO()
    progress = logs.JsonProgress(logs.EventLog("json", out), every=3600)
    for rows in (1000, 2000, 3000):
        progress.update(rows)
    (event,) = _events(out.getvalue())
    assert event["event"] == "progress" and event["rows_read"] == 1000


def test_requested_format_is_read_before_parsing():
    assert logs.requested_format(["run", "x.csv", "--log-format", "json"]) == "json"
    assert logs.requested_format(["run", "--log-format=json", "x.csv"]) == "json"
    assert logs.requested_format(["run", "x.csv", "--log-format", "yaml"]) == "text"
    assert logs.requested_format(["run", "--", "--log-format", "json"]) == "text"
    assert logs.requested_format(["run", "x.csv"]) == "text"


def test_the_schema_refuses_what_a_scheduler_could_not_read():
    validator = jsonschema.Draft202012Validator(SCHEMA)
    good = {"event": "error", "time": "2026-11-27T01:02:03.456Z", "message": "x", "exit_code": 2, "error": "DataError"}
    validator.validate(good)
    for bad in ({**good, "event": "debug"}, {**good, "time": "2026-11-27 01:02:03"}, {**good, "exit_code": 0},
                {**good, "extra": 1}, {k: v for k, v in good.items() if k != "message"}):
        assert not validator.is_valid(bad), bad

