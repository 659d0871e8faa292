"""Fuzzing: random byte mutations of a real bundle, fed to `score verify`, `score inspect` and `score run`.

Each mutated bundle goes to all three commands (inspect alternately as text and as ``--json``; run
scores the first 100 rows of tests/data/goog_daily.csv). Whatever the bytes, the scorer must:

- exit 0, 1 or 2 — never a traceback, never a crash or abort (a negative status), never a hang;
- on failure print exactly one stderr line, ``score: error: ...``;
- print no raw control character (stdout and stderr), and valid JSON from ``inspect --json``;
- leave no partial output: `run`'s folder holds the complete output after exit 0 and nothing new
  (no output, no temporary file or ``.parts`` folder) otherwise.

Strategies: bytes anywhere in the file; inside the manifest JSON; inside the golden-vector JSON;
in the first 4 KB (the model header and first graph nodes); truncation; several mutations at once.
Operations: flip a bit, overwrite a byte (random or a JSON/terminal special), insert or delete a
few bytes, duplicate a slice, swap a digit for another (JSON that still parses, other meaning).

Speed: starting a Python process per command would take ~1.5 s each. A warm worker process
(``main`` below, started fresh so that no thread pool of polars or onnxruntime exists in it yet)
imports the scorer and onnxruntime once and ``os.fork()``s a child per command, which runs the
real ``run_app(app, "score")`` with its stdout/stderr on files; the worker ``waitpid``s it (a signal
death shows as a negative status), two children at a time.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import GOOG, ROOT

COMMANDS = ("verify", "inspect", "run")
OK_CODES = {0, 1, 2}
CHILD_TIMEOUT_S = 90.0
SPECIALS = b'\x00\xff\x7f\x80"[]{}\\\n\x1b,:-.0e9'


# ---- mutations (pure functions of the bytes and a seeded RNG)


def _regions(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of the manifest and golden JSON inside the file (found by their text)."""
    from signalpack.score.protobuf import scan_model

    info = scan_model(data)
    out = {}
    for name, key in (("manifest", "signalpack.manifest"), ("golden", "signalpack.golden")):
        raw = info.metadata[key].encode()
        start = data.find(raw)
        out[name] = (start, start + len(raw))
    out["head"] = (0, min(4096, len(data)))
    out["anywhere"] = (0, len(data))
    return out


def _mutate_once(buf: bytearray, rng: random.Random, lo: int, hi: int) -> str:
    pos = rng.randrange(lo, max(hi, lo + 1))
    pos = min(pos, len(buf) - 1)
    op = rng.choice(("flip", "flip", "overwrite", "special", "insert", "delete", "duplicate", "digit"))
    if op == "flip":
        buf[pos] ^= 1 << rng.randrange(8)
    elif op == "overwrite":
        buf[pos] = rng.randrange(256)
    elif op == "special":
        buf[pos] = rng.choice(SPECIALS)
    elif op == "insert":
        buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif op == "delete":
        del buf[pos:pos + rng.randint(1, 8)]
    elif op == "duplicate":
        n = rng.randint(1, 64)
        buf[pos:pos] = buf[pos:pos + n]
    else:  # a digit in range -> another digit: same length, JSON that may still parse
        digits = [i for i in range(lo, min(hi, len(buf))) if 48 <= buf[i] <= 57]
        if not digits:
            buf[pos] ^= 1
            return "flip"
        i = rng.choice(digits)
        buf[i] = 48 + (buf[i] - 48 + rng.randint(1, 9)) % 10
    return op


def mutate(data: bytes, rng: random.Random, regions: dict[str, tuple[int, int]]) -> tuple[bytes, str]:
    """One mutated copy of ``data`` and a label naming the strategy and operations."""
    strategy = rng.choices(("anywhere", "manifest", "golden", "head", "truncate", "multi"),
                           weights=(3, 3, 2, 2, 1, 1))[0]
    buf = bytearray(data)
    if strategy == "truncate":
        cut = rng.choice((rng.randrange(1, len(data)), len(data) - rng.randint(1, 64)))
        return bytes(buf[:cut]), "truncate"
    if strategy == "multi":
        ops = [_mutate_once(buf, rng, *regions[rng.choice(("anywhere", "manifest", "golden", "head"))])
               for _ in range(rng.randint(2, 6))]
        return bytes(buf), "multi:" + "+".join(ops)
    lo, hi = regions[strategy]
    op = _mutate_once(buf, rng, lo, hi)
    return bytes(buf), f"{strategy}:{op}"


# ---- the warm worker (runs in its own fresh process)


def _child(argv: list[str], cwd: Path, out: Path, err: Path) -> None:
    """In the forked child: run the real CLI entry point, stdout/stderr on files. Never returns."""
    code = 70
    try:
        os.chdir(cwd)
        for fd, path in ((1, out), (2, err)):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        from signalpack.score.cli import app, run_app

        sys.argv = ["score", *argv]
        try:
            run_app(app, "score")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 -- an escaped exception is exactly what the fuzz looks for
        import traceback

        traceback.print_exc()
        code = 70
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def main() -> None:
    """``python -c 'from tests.score.test_bundle_fuzz import main; main()' CONFIG_JSON``: mutate, fork,
    collect; writes one JSON record per command run to config["results"]."""
    cfg = json.loads(sys.argv[1])
    import contextlib
    import gc
    import io

    os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # as signalpack imports it (no telemetry database)
    import onnxruntime  # noqa: F401 -- warm: imported once, before any fork
    import polars  # noqa: F401 -- imported only: its thread pool starts on first use, which is in children

    import signalpack.score.io
    import signalpack.score.runner  # noqa: F401
    from signalpack.score.cli import app, run_app

    # `score verify` and `score inspect` once here warm what every child would otherwise redo: typer's
    # lazy imports while parsing arguments (pydantic among them) and onnxruntime's one-time set-up. The
    # session is gone again before the first fork, and polars is not used here (its thread pool would
    # not survive a fork).
    for argv in (["verify", cfg["bundle"]], ["inspect", cfg["bundle"], "--json"]):
        sys.argv = ["score", *argv]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            run_app(app, "score")
    gc.collect()

    work = Path(cfg["work"])
    data = Path(cfg["bundle"]).read_bytes()
    csv = Path(cfg["csv"]).read_text()
    regions = _regions(data)
    rng = random.Random(cfg["seed"])
    started = time.monotonic()
    jobs: list[tuple[int, list[str], Path, dict]] = []  # pending
    running: dict[int, tuple[float, dict]] = {}
    results = []
    cases = 0

    def next_case() -> bool:
        nonlocal cases
        if cases >= cfg["count"] or time.monotonic() - started > cfg["budget_s"]:
            return False
        i = cases
        cases += 1
        mutated, label = (data, "control") if i == 0 else mutate(data, rng, regions)
        case = work / f"c{i:05d}"
        case.mkdir()
        bundle = case / "m.onnx"
        bundle.write_bytes(mutated)
        for command in COMMANDS:
            cwd = case / command
            cwd.mkdir()
            if command == "run":
                (cwd / "prices.csv").write_text(csv)
                argv = ["run", "prices.csv", "--model", str(bundle), "--output", "out.parquet"]
            elif command == "inspect":
                argv = ["inspect", str(bundle), *(["--json"] if i % 2 else [])]
            else:
                argv = ["verify", str(bundle)]
            jobs.append((i, argv, cwd, {"case": i, "label": label, "command": command, "argv": argv,
                                        "cwd": str(cwd), "out": str(case / f"{command}.out"),
                                        "err": str(case / f"{command}.err")}))
        return True

    def reap(block: bool) -> None:
        for pid in list(running):
            t0, rec = running[pid]
            done, status = os.waitpid(pid, 0 if block and len(running) == 1 else os.WNOHANG)
            if done == 0:
                if time.monotonic() - t0 > CHILD_TIMEOUT_S:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    rec.update(status=None, timeout=True, seconds=round(time.monotonic() - t0, 3))
                    results.append(rec)
                    del running[pid]
                continue
            rec.update(status=os.waitstatus_to_exitcode(status), seconds=round(time.monotonic() - t0, 3))
            results.append(rec)
            del running[pid]

    while True:
        if not jobs and not next_case():
            break
        while jobs:
            while len(running) >= cfg["parallel"]:
                reap(block=False)
                if len(running) >= cfg["parallel"]:
                    time.sleep(0.002)
            _, argv, cwd, rec = jobs.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(argv, cwd, Path(rec["out"]), Path(rec["err"]))
            running[pid] = (time.monotonic(), rec)
    while running:
        reap(block=False)
        time.sleep(0.002)
    Path(cfg["results"]).write_text(json.dumps({"cases": cases, "seconds": round(time.monotonic() - started, 1),
                                                "results": results}))


# ---- the checks (in the pytest process)


def _printable_text(text: str) -> bool:
    return all(c.isprintable() or c == "\n" for c in text)


def _problems(rec: dict, expected_rows: int) -> list[str]:
    """Everything wrong with one command's outcome (empty: it kept every promise)."""
    import polars as pl

    out = Path(rec["out"]).read_text(encoding="utf-8", errors="replace")
    err = Path(rec["err"]).read_text(encoding="utf-8", errors="replace")
    status = rec["status"]
    bad = []
    if rec.get("timeout"):
        return [f"hung (killed after {CHILD_TIMEOUT_S} s)"]
    if status not in OK_CODES:
        bad.append(f"exit status {status}")
    if "Traceback (most recent call last)" in out + err or any(x.startswith("Traceback") for x in err.splitlines()):
        bad.append("traceback")
    if not _printable_text(out) or not _printable_text(err):
        bad.append("raw control character in the output")
    lines = [x for x in err.splitlines() if x.strip()]
    if status in (1, 2) and (len(lines) != 1 or not lines[0].startswith("score: error: ")):
        bad.append(f"{len(lines)} stderr lines, not one error line")
    if status == 0 and any("error" in x for x in lines):
        bad.append("an error line with exit 0")
    if rec["command"] == "inspect" and "--json" in rec["argv"] and status == 0:
        try:
            json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError as exc:
            bad.append(f"inspect --json printed invalid JSON ({exc})")
    if rec["command"] == "run":
        left = sorted(p.name for p in Path(rec["cwd"]).iterdir())
        if status == 0:
            if left != ["out.parquet", "prices.csv"]:
                bad.append(f"run left {left}")
            else:
                frame = pl.read_parquet(Path(rec["cwd"]) / "out.parquet")
                if frame.height != expected_rows:
                    bad.append(f"run wrote {frame.height} rows, not {expected_rows}")
        elif left != ["prices.csv"]:
            bad.append(f"run failed (exit {status}) but left {left}")
    return bad


def fuzz(bundle: Path, tmp_path: Path, count: int, seed: int, budget_s: float) -> dict:
    """Run ``count`` mutated copies of ``bundle`` (the first unmutated, as a control) through all three
    commands in a fresh worker process; returns its results."""
    csv = tmp_path / "prices.csv"
    csv.write_text("\n".join(GOOG.read_text().splitlines()[:101]) + "\n")
    work = tmp_path / "cases"
    work.mkdir()
    cfg = {"bundle": str(bundle), "csv": str(csv), "work": str(work), "seed": seed, "count": count,
           "budget_s": budget_s, "parallel": min(2, os.cpu_count() or 1), "results": str(tmp_path / "results.json")}
    r = subprocess.run([sys.executable, "-c", "from tests.score.test_bundle_fuzz import main; main()", json.dumps(cfg)],
                       cwd=ROOT, capture_output=True, text=True, timeout=budget_s + 4 * CHILD_TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((tmp_path / "results.json").read_text())


def _check(run: dict, window_rows: int) -> collections.Counter:
    expected_rows = 100 - window_rows + 1
    failures = []
    histogram: collections.Counter = collections.Counter()
    for rec in run["results"]:
        histogram[(rec["command"], rec["status"])] += 1
        for problem in _problems(rec, expected_rows):
            failures.append(f"case {rec['case']} ({rec['label']}) {' '.join(rec['argv'][:1])}: {problem}; "
                            f"stderr: {Path(rec['err']).read_text(errors='replace')[-300:]!r}")
    control = [r for r in run["results"] if r["case"] == 0]
    assert sorted((r["command"], r["status"]) for r in control) == [("inspect", 0), ("run", 0), ("verify", 0)], control
    assert len(run["results"]) == 3 * run["cases"]
    assert not failures, f"{len(failures)} failures, e.g.:\n" + "\n".join(failures[:10])
    return histogram


def _summary(run: dict, histogram: collections.Counter) -> str:
    by_command = {c: {s: n for (cc, s), n in sorted(histogram.items()) if cc == c} for c in COMMANDS}
    labels = collections.Counter(r["label"].split(":")[0] for r in run["results"] if r["command"] == "verify")
    return (f"{run['cases']} bundles ({run['cases'] - 1} mutated) x 3 commands in {run['seconds']} s; "
            f"exit codes {by_command}; strategies {dict(labels)}")


def test_fuzz_bundle_bytes_quick(tiny_export, tmp_path):
    """A fast-loop sample: 20 mutated bundles x 3 commands (a few seconds)."""
    from signalpack.score.bundle import load_bundle

    run = fuzz(tiny_export.bundle, tmp_path, count=21, seed=13, budget_s=60)
    histogram = _check(run, load_bundle(tiny_export.bundle).window_rows)
    print(_summary(run, histogram))
    assert run["cases"] == 21


@pytest.mark.slow
def test_fuzz_bundle_bytes_1000(tiny_export, tmp_path):
    """The full run: 1,000 mutated bundles x 3 commands (~2 minutes on 2 idle cores), bounded to 8."""
    from signalpack.score.bundle import load_bundle

    run = fuzz(tiny_export.bundle, tmp_path, count=1001, seed=2026, budget_s=480)
    histogram = _check(run, load_bundle(tiny_export.bundle).window_rows)
    print(_summary(run, histogram))
    assert run["cases"] == 1001, f"only {run['cases']} cases within the time bound: {_summary(run, histogram)}"
    # the fuzz reached every layer: refusals at load (2), mismatches in verify (1) and clean passes (0)
    assert {s for (c, s) in histogram if c == "verify"} >= {0, 1, 2}
