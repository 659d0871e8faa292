"""Every bad input refused clearly: one table across all seven commands.

Each case runs the real CLI in a subprocess and asserts the exit code (2 for bad
input, 1 for a verify or parity mismatch), exactly one stderr line that names
the file and the column, row or value at fault, no traceback, and that nothing
in the working folder was created or changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
import polars as pl
import pytest

from tests.conftest import GOOG, rewrite_manifest
from tests.score import input_cases as inputs
from tests.score import output_cases as outputs
from tests.score import signing_cases as signing

ROOT_USER = os.geteuid() == 0
# Root reads and writes through file permissions; drop those capabilities so
# "unreadable" and "unwritable" mean what they say.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if ROOT_USER else []


def goog_text() -> str:
    return GOOG.read_text()


def edit_csv(work: Path, edit: Callable[[str], str], name: str = "bad.csv") -> Path:
    p = work / name
    p.write_text(edit(goog_text()))
    return p


def cell(row: int, col: str, value: str) -> Callable[[str], str]:
    """Replace one cell of goog_daily.csv (data row numbers from 1)."""
    def edit(text: str) -> str:
        lines = text.splitlines()
        header = lines[0].split(",")
        fields = lines[row].split(",")
        fields[header.index(col)] = value
        lines[row] = ",".join(fields)
        return "\n".join(lines) + "\n"
    return edit


def symbol_file(work: Path, edit: Callable[[pl.DataFrame], pl.DataFrame] = lambda f: f) -> Path:
    f = pl.read_csv(GOOG).rename({"": "Date"})
    f = pl.concat([f.with_columns(pl.lit("AAA").alias("Symbol")), f.with_columns(pl.lit("BBB").alias("Symbol"))])
    p = work / "symbols.csv"
    edit(f).write_csv(p)
    return p


def modified_bundle(src: Path, work: Path, edit: Callable[[onnx.ModelProto], None], name: str) -> Path:
    m = onnx.load(str(src))
    edit(m)
    p = work / name
    p.write_bytes(m.SerializeToString())
    return p


def set_manifest(key: str, value) -> Callable[[Path, Path, str], Path]:
    return lambda src, work, name: rewrite_manifest(src, work / name, lambda m: m.update({key: value}))


def flip_bits(m: onnx.ModelProto) -> None:
    """Flip the sign bit of the first (up to) 64 weights of member 0's LSTM input kernel and of each of
    its matrix products, in the raw bytes: the wide path (a logistic regression) is among them, and it
    carries most of a briefly trained member's output."""
    lstm = next(n for n in m.graph.node if n.op_type == "LSTM")
    targets = {lstm.input[1]} | {n.input[1] for n in m.graph.node
                                 if n.op_type == "MatMul" and n.input[1].startswith("m0/")}
    for init in m.graph.initializer:
        if init.name in targets:
            raw = bytearray(init.raw_data)
            for k in range(min(64, len(raw) // 4)):
                raw[4 * k + 3] ^= 0x80
            init.raw_data = bytes(raw)


def external(m: onnx.ModelProto) -> None:
    init = m.graph.initializer[0]
    init.data_location = onnx.TensorProto.EXTERNAL
    e = init.external_data.add()
    e.key, e.value = "location", "weights.bin"
    init.ClearField("raw_data")


def copy_run(run: Path, work: Path) -> Path:
    dst = work / "run_copy"
    shutil.copytree(run, dst)
    return dst


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Path, Path], list[str]]  # (work, run_dir, bundle) -> argv after the program
    program: str  # "score" or "signalpack"
    code: int
    needles: tuple[str, ...]
    no_dac: bool = False


S, T = "score", "signalpack"


def run_csv(edit: Callable[[str], str]) -> Callable[[Path, Path, Path], list[str]]:
    return lambda w, r, b: ["run", str(edit_csv(w, edit))]


def train_csv(edit: Callable[[str], str]) -> Callable[[Path, Path, Path], list[str]]:
    return lambda w, r, b: ["train", str(edit_csv(w, edit)), "--out", str(w / "run")]


def _truncated_parquet(w: Path) -> Path:
    p = w / "prices.parquet"
    pl.read_csv(GOOG).write_parquet(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _unreadable(w: Path) -> Path:
    p = edit_csv(w, lambda t: t, "locked.csv")
    p.chmod(0)
    return p


def _readonly_folder(w: Path) -> Path:
    d = w / "readonly"
    d.mkdir()
    src = d / "prices.csv"
    src.write_text(goog_text())
    d.chmod(0o555)
    return src


def _config(w: Path, text: str) -> Path:
    p = w / "config.toml"
    p.write_text(text)
    return p


CASES = [
    # ---- data files (score run and signalpack train share the loader)
    Case("missing_column", run_csv(lambda t: "\n".join(",".join(x.split(",")[:-1]) for x in t.splitlines()) + "\n"),
         S, 2, ("bad.csv", "missing column volume")),
    Case("renamed_column", train_csv(lambda t: t.replace("Close", "Last", 1)), T, 2, ("bad.csv", "missing column close")),
    Case("string_in_price", run_csv(cell(5, "Close", "abc")), S, 2, ("bad.csv", "'Close'", "row 5", "'abc'", "not a number")),
    Case("nan", run_csv(cell(7, "Open", "NaN")), S, 2, ("bad.csv", "'Open'", "row 7", "NaN")),
    Case("inf", train_csv(cell(8, "High", "inf")), T, 2, ("bad.csv", "'High'", "row 8", "infinite")),
    Case("zero_price", run_csv(cell(9, "Low", "0")), S, 2, ("bad.csv", "'Low'", "row 9", "prices must be positive")),
    Case("negative_price", train_csv(cell(10, "Close", "-5")), T, 2, ("bad.csv", "'Close'", "row 10", "positive")),
    Case("high_below_low", run_csv(cell(11, "High", "1")), S, 2, ("bad.csv", "'High'", "row 11", "is below low")),
    Case("close_outside_range", train_csv(cell(12, "Close", "999")), T, 2, ("bad.csv", "'Close'", "row 12", "outside [low")),
    Case("duplicate_symbol_timestamp",
         lambda w, r, b: ["run", str(symbol_file(w, lambda f: pl.concat([f, f.slice(3000, 1)])))],
         S, 2, ("symbols.csv", "duplicate symbol 'BBB' timestamp")),
    Case("mixed_timestamp_formats", run_csv(cell(20, "", "8/20/2004")), S, 2,
         ("bad.csv", "row 20", "'8/20/2004'", "mixed timestamp formats")),
    Case("unparseable_date", train_csv(cell(21, "", "yesterday")), T, 2, ("bad.csv", "row 21", "'yesterday'", "cannot parse")),
    Case("empty_file", lambda w, r, b: ["run", str(edit_csv(w, lambda t: ""))], S, 2, ("bad.csv", "the file is empty")),
    Case("header_only", train_csv(lambda t: t.splitlines()[0] + "\n"), T, 2, ("bad.csv", "header but no data rows")),
    Case("truncated_parquet", lambda w, r, b: ["run", str(_truncated_parquet(w))], S, 2,
         ("prices.parquet", "not a readable parquet file")),
    Case("semicolon_delimiter", run_csv(lambda t: t.replace(",", ";")), S, 2, ("bad.csv", "semicolon-delimited")),
    Case("gz_not_gzip", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "prices.csv.gz"))], S, 2,
         ("prices.csv.gz", "not gzip-compressed")),
    Case("directory_input", lambda w, r, b: ["run", str(w)], S, 2, ("work", "the folder holds no parquet or CSV file")),
    Case("missing_input", lambda w, r, b: ["train", str(w / "nope.csv"), "--out", str(w / "run")], T, 2,
         ("nope.csv", "no such file")),
    Case("unreadable_file", lambda w, r, b: ["run", str(_unreadable(w))], S, 2,
         ("locked.csv", "not readable"), no_dac=True),
    Case("too_short_for_one_window", run_csv(lambda t: "\n".join(t.splitlines()[:40]) + "\n"), S, 2,
         ("bad.csv", "39 rows are fewer than one window needs (59 rows)")),
    Case("empty_symbol", lambda w, r, b: ["run", str(symbol_file(
        w, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 6).then(pl.lit("")).otherwise(pl.col("Symbol")).alias("Symbol"))))],
         S, 2, ("symbols.csv", "'Symbol'", "row 7", "empty symbol")),
    # ---- outputs
    Case("missing_output_folder", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--output",
                                                   str(w / "no" / "such" / "out.parquet")],
         S, 2, ("out.parquet", "does not exist")),
    Case("unwritable_output", lambda w, r, b: ["run", str(_readonly_folder(w))], S, 2,
         ("prices.signals.parquet", "not writable"), no_dac=True),
    Case("output_exists", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--output",
                                           str(edit_csv(w, lambda t: "old", "old.parquet"))],
         S, 2, ("old.parquet", "already exists; pass --overwrite")),
    # ---- bundles
    Case("truncated_bundle", lambda w, r, b: ["verify", str(_half(b, w))], S, 2, ("half.onnx", "truncated or corrupt")),
    Case("not_onnx", lambda w, r, b: ["inspect", str(edit_csv(w, lambda t: t, "model.onnx"))], S, 2,
         ("model.onnx", "not a readable ONNX model")),
    Case("no_manifest", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--model",
                                         str(modified_bundle(b, w, lambda m: m.metadata_props.__delitem__(slice(None)), "plain.onnx"))],
         S, 2, ("plain.onnx", "no signalpack manifest")),
    Case("future_manifest_version", lambda w, r, b: ["verify", str(set_manifest("format_version", 3)(b, w, "v3.onnx"))],
         S, 2, ("v3.onnx", "manifest format version 3 is not supported")),
    Case("format_1_bundle", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--model",
                                             str(set_manifest("format_version", 1)(b, w, "v1.onnx"))],
         S, 2, ("v1.onnx", "bundle format 1", "signalpack export RUN_DIR --overwrite")),
    Case("manifest_disagrees_with_graph", lambda w, r, b: ["inspect", str(set_manifest("window_rows", 22)(b, w, "w22.onnx"))],
         S, 2, ("w22.onnx", "window_rows 22")),
    Case("external_data", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--model",
                                           str(modified_bundle(b, w, external, "ext.onnx"))],
         S, 2, ("ext.onnx", "references external data")),
    Case("bit_flipped_weights_verify", lambda w, r, b: ["verify", str(modified_bundle(b, w, flip_bits, "flipped.onnx"))],
         S, 1, ("flipped.onnx", "golden vectors do not reproduce")),
    Case("bit_flipped_weights_parity", lambda w, r, b: ["parity", str(r), str(modified_bundle(b, w, flip_bits, "flipped.onnx"))],
         T, 1, ("parity gate failed", "probabilities: max abs diff")),
    Case("missing_bundle", lambda w, r, b: ["inspect", str(w / "absent.onnx")], S, 2, ("absent.onnx", "no such bundle")),
    # ---- run directories
    Case("run_dir_missing_member", lambda w, r, b: ["export", str(_without(copy_run(r, w), "member_2.keras")),
                                                    "--out", str(w / "b.onnx")],
         T, 2, ("run_copy", "missing member file member_2.keras")),
    Case("corrupt_keras_export", lambda w, r, b: ["export", str(_corrupt(copy_run(r, w), "member_0.keras")),
                                                  "--out", str(w / "b.onnx")],
         T, 2, ("member_0.keras", "not a loadable Keras model")),
    Case("corrupt_keras_parity", lambda w, r, b: ["parity", str(_corrupt(copy_run(r, w), "member_1.keras")), str(b)],
         T, 2, ("member_1.keras", "not a loadable Keras model")),
    Case("not_a_run_dir", lambda w, r, b: ["export", str(w / "nothing_here")], T, 2, ("nothing_here", "not a run directory")),
    # ---- configuration
    Case("config_unknown_key", lambda w, r, b: ["train", str(GOOG), "--config", str(_config(w, "[model]\nlstm_unit = 32\n")),
                                                "--out", str(w / "run")],
         T, 2, ("config.toml", "unknown key 'model.lstm_unit'")),
    Case("config_out_of_range", lambda w, r, b: ["train", str(GOOG), "--config", str(_config(w, "[simulation]\ncost = 0.5\n")),
                                                 "--out", str(w / "run")],
         T, 2, ("config.toml", "'simulation.cost' = 0.5 is out of range")),
    Case("config_bad_toml", lambda w, r, b: ["train", str(GOOG), "--config", str(_config(w, "[model\n")), "--out", str(w / "run")],
         T, 2, ("config.toml", "not valid TOML")),
    Case("walk_forward_one_fold", lambda w, r, b: ["train", str(GOOG), "--walk-forward", "1", "--out", str(w / "run")],
         T, 2, ("'split.walk_forward' = 1 is out of range",)),
    Case("walk_forward_too_many_folds", lambda w, r, b: ["train", str(_head_csv(w, 400)), "--walk-forward", "20",
                                                         "--out", str(w / "run"), "-q"],
         T, 2, ("walk-forward fold", "no complete labelled window", "20 walk-forward folds")),
    Case("report_without_metadata", lambda w, r, b: ["report", str(_without(copy_run(r, w), "metadata.json"))],
         T, 2, ("run_copy", "missing metadata.json")),
    Case("report_not_a_run_dir", lambda w, r, b: ["report", str(w / "nothing_here")], T, 2,
         ("nothing_here", "not a run directory")),
    Case("export_bad_opset", lambda w, r, b: ["export", str(r), "--out", str(w / "b.onnx"), "--opset", "25"],
         T, 2, ("--opset 25 is out of range",)),
    Case("export_nan_atol", lambda w, r, b: ["export", str(r), "--out", str(w / "b.onnx"), "--atol", "nan"],
         T, 2, ("--atol nan is out of range",)),
    Case("export_loose_atol", lambda w, r, b: ["export", str(r), "--out", str(w / "b.onnx"), "--atol", "0.5"],
         T, 2, ("--atol 0.5 is out of range", "0.01")),
    # ---- issue 13 · bundles and manifests
    # crafted copies of the tiny bundle (tests/score/crafted_bundles.py); `run` scores a copy of goog_daily.csv
    Case("duplicate_manifest_key", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "verify", "duplicate_manifest_key", w, b), S, 2, ("duplicate_manifest_key.onnx", "appears 2 times")),
    Case("threshold_below_a_third", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "run", "threshold_zero", w, b), S, 2, ("threshold_zero.onnx", "confidence_threshold", ">= 0.34")),
    Case("negated_weights_regenerated_golden", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "verify", "negated_weights_regenerated_golden", w, b), S, 2, ("negated_weights", "golden probabilities are not probabilities")),
    Case("nested_subgraphs", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "inspect", "nested_subgraphs", w, b), S, 2, ("nested_subgraphs.onnx", "subgraphs nested more than 64 deep")),
    Case("nested_manifest_json", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "run", "nested_manifest_json", w, b), S, 2, ("nested_manifest_json.onnx", "nests 100001 levels deep")),
    Case("feature_window_zero", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "run", "feature_window_zero", w, b), S, 2, ("feature_window_zero.onnx", "feature_spec.features[1].params.n", "(got 0)")),
    Case("feature_named_timestamp", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "verify", "feature_named_timestamp", w, b), S, 2, ("feature_named_timestamp.onnx", '"timestamp"', "key, output or input column")),
    Case("golden_as_list", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "verify", "golden_as_list", w, b), S, 2, ("golden_as_list.onnx", "golden vectors must be a JSON object")),
    Case("golden_empty", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "verify", "golden_empty", w, b), S, 2, ("golden_empty.onnx", "golden inputs are float64 [0,")),
    Case("graph_fails_at_run_time", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "run", "fails_at_run_time", w, b), S, 2, ("fails_at_run_time.onnx", "the graph fails at run time", "Reshape")),
    Case("two_class_probabilities", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "run", "probabilities_two_classes_at_run_time", w, b), S, 2, ("probabilities_two_classes", "[32, 2] at run time")),
    Case("nan_threshold", lambda w, r, b: __import__("tests.score.crafted_bundles").score.crafted_bundles.argv(
        "inspect", "nan_threshold", w, b), S, 2, ("nan_threshold.onnx", "non-finite number NaN")),
    # ---- end bundles and manifests
    # ---- issue 13 · signing and pinning
    Case("trusted_key_unsigned_bundle", lambda w, r, b: ["verify", str(b), "--trusted-key", str(signing.keys(w).public)],
         S, 2, ("tiny.onnx", "not signed")),
    Case("trusted_key_other_signer", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--model",
                                                      str(signing.signed_copy(b, w, "other.onnx", key="other")),
                                                      "--trusted-key", str(signing.keys(w).public)],
         S, 2, ("other.onnx", "signed by another key")),
    Case("signed_then_tampered", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--model",
                                                  str(signing.variant(b, w, "tampered.onnx", "flip")),
                                                  "--trusted-key", str(signing.keys(w).public)],
         S, 2, ("tampered.onnx", "bad signature")),
    Case("signature_not_last", lambda w, r, b: ["verify", str(signing.variant(b, w, "notlast.onnx", "not_last")),
                                                "--trusted-key", str(signing.keys(w).public)],
         S, 2, ("notlast.onnx", "signature entry is not the last field")),
    Case("two_signature_entries", lambda w, r, b: ["verify", str(signing.variant(b, w, "twice.onnx", "twice")),
                                                   "--trusted-key", str(signing.keys(w).public)],
         S, 2, ("twice.onnx", "2 signature entries")),
    Case("expect_sha256_mismatch", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--model", str(b),
                                                    "--expect-sha256", "0" * 64],
         S, 2, ("tiny.onnx", "is not the expected 0000")),
    Case("expect_sha256_malformed", lambda w, r, b: ["verify", str(b), "--expect-sha256", "12ab"], S, 2,
         ("--expect-sha256 '12ab'", "64 hex digits")),
    Case("trusted_key_is_private_key", lambda w, r, b: ["verify", str(signing.signed_copy(b, w)), "--trusted-key",
                                                        str(signing.keys(w).private)],
         S, 2, ("key: is a private key",)),
    Case("trusted_key_corrupt", lambda w, r, b: ["verify", str(signing.signed_copy(b, w)), "--trusted-key",
                                                 str(signing.corrupt_public_key(w))],
         S, 2, ("broken.pub", "corrupt PEM key file")),
    Case("trusted_key_missing", lambda w, r, b: ["run", str(edit_csv(w, lambda t: t, "ok.csv")), "--trusted-key",
                                                 str(w / "absent.pub")],
         S, 2, ("absent.pub", "no such key file")),
    Case("sign_key_is_public_key", lambda w, r, b: ["export", str(r), "--out", str(w / "b.onnx"), "--sign-key",
                                                    str(signing.keys(w).public)],
         T, 2, ("key.pub: is a public key",)),
    Case("keygen_existing_key", lambda w, r, b: ["keygen", str(signing.keys(w).private)], T, 2, ("key: already exists",)),
    # ---- end signing and pinning
    # ---- issue 13 · output side
    Case("summary_is_input", lambda w, r, b: outputs.run(w, "--summary", w / "ok.csv", "--overwrite"), S, 2,
         ("ok.csv: is the input", "--summary")),
    Case("summary_is_output", lambda w, r, b: outputs.run(w, "--output", w / "o.parquet", "--summary", w / "o.parquet",
                                                          "--overwrite"), S, 2, ("o.parquet: is the --output",)),
    Case("summary_is_bundle", lambda w, r, b: outputs.run(w, "--model", outputs.bundle_copy(b, w), "--summary",
                                                          w / "model.onnx", "--overwrite"), S, 2,
         ("model.onnx: is the bundle",)),
    Case("summary_exists", lambda w, r, b: outputs.run(w, "--summary", outputs.existing(w, "s.json")), S, 2,
         ("s.json: already exists; pass --overwrite",)),
    Case("summary_missing_folder", lambda w, r, b: outputs.run(w, "--summary", w / "no" / "s.json"), S, 2,
         ("s.json", "does not exist")),
    Case("summary_symlink", lambda w, r, b: outputs.run(w, "--summary", outputs.symlink(w, "stdout"), "--overwrite"),
         S, 2, ("stdout: is a symbolic link",)),
    Case("output_is_input", lambda w, r, b: outputs.run(w, "--output", w / "ok.csv", "--overwrite"), S, 2,
         ("ok.csv: is the input",)),
    Case("output_device", lambda w, r, b: outputs.run(w, "--output", outputs.device(w), "--overwrite"), S, 2,
         ("null: is a ", "refusing to replace it")),
    Case("output_symlink", lambda w, r, b: outputs.run(w, "--output", outputs.symlink(w, "link.parquet"), "--overwrite"),
         S, 2, ("link.parquet: is a symbolic link",)),
    Case("output_name_too_long", lambda w, r, b: outputs.run(w, "--output", w / ("s" * 260 + ".parquet")), S, 2,
         ("the file name is too long (268 bytes",)),
    # ---- end output side
    # ---- issue 13 · input side
    Case("year_zero", run_csv(cell(1, "", "0000-01-01")), S, 2,
         ("bad.csv", "row 1 (line 2)", "'0000-01-01'", "outside the supported dates 1678-01-01 to 2261-12-31")),
    Case("year_zero_later_row", train_csv(cell(7, "", "0000-01-01")), T, 2,
         ("bad.csv", "row 7 (line 8)", "'0000-01-01'", "outside the supported dates")),
    Case("parquet_year_10004", lambda w, r, b: ["run", str(inputs.far_parquet(w))], S, 2,
         ("far.parquet", "column 'Date' row 10", "'+10004-", "outside the supported dates")),
    Case("two_digit_years", lambda w, r, b: ["run", str(inputs.two_digit_years(w))], S, 2,
         ("mdy.csv", "row 1 (line 2)", "'8/19/04'", "two-digit years are ambiguous")),
    Case("cr_only_line_endings", lambda w, r, b: ["run", str(inputs.text(w, "mac.csv", inputs.LINES, end="\r"))], S, 2,
         ("mac.csv", "CR-only line endings")),
    Case("binary_input", lambda w, r, b: ["run", str(inputs.binary(w))], S, 2,
         ("blob.csv", "not a text CSV file (binary data)")),
    Case("double_gzip", lambda w, r, b: ["run", str(inputs.double_gzip(w))], S, 2,
         ("twice.csv.gz", "not a text CSV file (gzip inside gzip)")),
    Case("duplicate_close_column", lambda w, r, b: ["run", str(inputs.duplicate_close(w))], S, 2,
         ("dup.csv", "columns 5 and 7 are both named 'Close'")),
    Case("huge_prices", lambda w, r, b: ["run", str(inputs.scaled(w, 1e298))], S, 2,
         ("scaled.csv", "column 'Open' row 1 (line 2)", "outside the supported price range [1e-30, 1e+30]")),
    Case("tiny_prices", lambda w, r, b: ["train", str(inputs.scaled(w, 1e-302)), "--out", str(w / "run")], T, 2,
         ("scaled.csv", "column 'Open' row 1 (line 2)", "outside the supported price range")),
    Case("fifo_input", lambda w, r, b: ["run", str(inputs.fifo(w))], S, 2,
         ("pipe.csv", "is a FIFO (named pipe), not a regular file")),
    # ---- end input side
]


def _head_csv(work: Path, rows: int) -> Path:
    p = work / "short.csv"
    p.write_text("\n".join(goog_text().splitlines()[: rows + 1]) + "\n")
    return p


def _half(bundle: Path, work: Path) -> Path:
    p = work / "half.onnx"
    data = bundle.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _without(run: Path, name: str) -> Path:
    (run / name).unlink()
    return run


def _corrupt(run: Path, name: str) -> Path:
    (run / name).write_bytes(b"PK\x03\x04 this is not a keras archive")
    return run


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and os.access(p, os.R_OK):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_file():
            out[str(p.relative_to(folder))] = f"unreadable {p.stat().st_size}"
        else:
            out[str(p.relative_to(folder))] = "dir"
    return out


def test_at_least_thirty_distinct_cases():
    assert len({c.name for c in CASES}) == len(CASES) >= 30
    assert {c.code for c in CASES} == {1, 2}


TF_IN_CHILD = {"bit_flipped_weights_parity", "corrupt_keras_parity", "corrupt_keras_export"}
"""Cases whose child process loads TensorFlow and the Keras members (~6 s each): in the full run only."""


FAST_CASES = {
    "missing_column", "nan", "duplicate_symbol_timestamp", "truncated_parquet", "output_exists", "config_unknown_key",
    "truncated_bundle", "future_manifest_version", "format_1_bundle", "export_nan_atol",
    "duplicate_manifest_key", "expect_sha256_mismatch", "summary_is_input", "binary_input",
}
"""Every row runs in the full suite (a fresh interpreter per row, ~0.65 s each); these, spread over the
commands and the kinds of fault, also run in the fast loop, beside the named test of each defect."""


def _is_slow(case: Case) -> bool:
    return case.name in TF_IN_CHILD or case.name not in FAST_CASES


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if _is_slow(c) else c for c in CASES],
    ids=lambda c: c.name,
)
def test_bad_input(case: Case, tmp_path, tiny_run, tiny_export):
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o755)
    argv = case.build(work, tiny_run.run_dir, tiny_export.bundle)
    before = _snapshot(work)
    run_before = _snapshot(tiny_run.run_dir)
    prefix = NO_DAC if case.no_dac else []
    r = subprocess.run(
        [*prefix, sys.executable, "-c", f"from {'signalpack.score' if case.program == S else 'signalpack'}.cli import main; main()", *argv],
        capture_output=True, text=True, timeout=300, cwd=work,
    )
    for p in work.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)
    assert r.returncode == case.code, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{case.program}: error: ")
    for needle in case.needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert _snapshot(work) == before, "the failed command created or changed files"
    assert _snapshot(tiny_run.run_dir) == run_before


def test_commands_covered():
    """The table spans all seven commands (read from each case's argv-building code)."""
    def consts(c: Case) -> set[str]:
        code = c.build.__code__
        found = {x for x in code.co_consts if isinstance(x, str)}
        for cell in c.build.__closure__ or ():
            inner = getattr(cell.cell_contents, "__code__", None)
            if inner is not None:
                found |= {x for x in inner.co_consts if isinstance(x, str)}
        return found

    seen = set().union(*(consts(c) for c in CASES))
    assert {"run", "verify", "inspect", "train", "export", "parity", "report"} <= seen


def test_short_symbol_beside_healthy_ones_is_counted_not_an_error(tmp_path):
    p = symbol_file(tmp_path, lambda f: pl.concat([f, f.head(20).with_columns(pl.lit("CCC").alias("Symbol"))]))
    r = subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", "run", str(p), "--summary",
                        str(tmp_path / "s.json")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["short_symbols"] == {"CCC": 20} and summary["symbols"] == 2
    assert "1 too short to score" in r.stderr


def test_gzip_input_still_works(tmp_path):
    """A control for the fake-gzip case: a real .csv.gz is fine."""
    p = tmp_path / "prices.csv.gz"
    p.write_bytes(gzip.compress(GOOG.read_bytes()))
    r = subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", "run", str(p)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "prices.signals.parquet").is_file()
