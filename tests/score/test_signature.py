"""Signed bundles and pinning (issue 13): keygen, export --sign-key, score verify/run --trusted-key
and --expect-sha256, $SCORE_TRUSTED_KEY; tampering anywhere in a signed file is refused."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalpack.errors import BundleError, ConfigError, InputError, OutputExistsError, SignalpackError
from signalpack.score import ed25519
from signalpack.score.bundle import inspect_bundle, load_bundle, open_bundle, verify_bundle
from signalpack.score.protobuf import top_level_fields
from signalpack.score.signature import (
    SIGNATURE_KEY,
    find_signature,
    read_private_key,
    read_public_key,
    sign_bundle,
    verify_signature,
    write_keypair,
)
from tests.conftest import GOOG, rewrite_manifest
from tests.score.signing_cases import keys, metadata_entry, signed_copy

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


def cli(program: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    module = "signalpack.score.cli" if program == "score" else "signalpack.cli"
    return subprocess.run([sys.executable, "-c", f"from {module} import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd, check=False)


def one_error_line(r: subprocess.CompletedProcess[str], program: str = "score") -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


def env_without_key(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SCORE_TRUSTED_KEY"}
    env.update(extra)
    return env


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    keys(d, "alice")
    keys(d, "mallory")
    return d


@pytest.fixture(scope="module")
def signed_export(tiny_run, tmp_path_factory, key_dir):
    """The tiny run exported with --sign-key (the real exporter: gates, final checks on the signed bytes)."""
    from signalpack.export.exporter import export_run

    out = tmp_path_factory.mktemp("signed") / "tiny.onnx"
    return export_run(tiny_run.run_dir, out, sign_key=key_dir / "alice")


# ----------------------------------------------------------------------------- export --sign-key

@pytest.mark.slow
def test_signed_export_is_the_unsigned_bundle_plus_one_last_entry(signed_export, tiny_export, key_dir):
    signed = signed_export.bundle.read_bytes()
    unsigned = tiny_export.bundle.read_bytes()
    assert signed.startswith(unsigned) and len(signed) > len(unsigned)
    assert signed_export.sha256 == hashlib.sha256(signed).hexdigest() and signed_export.size == len(signed)
    num, start, end = top_level_fields(signed)[-1]
    assert (num, start, end) == (14, len(unsigned), len(signed))
    m = onnx.load_from_string(signed)
    assert [p.key for p in m.metadata_props][-1] == SIGNATURE_KEY
    value = m.metadata_props[-1].value
    doc = json.loads(value)
    assert value == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    public = keys(key_dir, "alice").raw_public
    assert doc["algorithm"] == "ed25519"
    assert doc["public_key_sha256"] == hashlib.sha256(public).hexdigest()
    assert ed25519.verify(public, unsigned, base64.b64decode(doc["signature"]))
    # the ONNX test data and the parity report are those of the unsigned export (the report names
    # the file it sits beside, and its sha256 is the signed file's)
    assert snapshot(signed_export.test_data) == snapshot(tiny_export.test_data)
    rep_signed = json.loads(signed_export.report_path.read_text())
    rep_plain = json.loads(tiny_export.report_path.read_text())
    assert rep_signed.pop("sha256") == signed_export.sha256
    rep_plain.pop("sha256")
    assert rep_signed == rep_plain


def test_signed_export_equals_signing_an_independent_unsigned_export(signed_export, tiny_export, key_dir):
    """Two separate exports of one run (one signed, one not): signing the unsigned one's bytes gives
    the signed one's bytes exactly (the export is deterministic, and so is Ed25519)."""
    seed = keys(key_dir, "alice").seed
    assert sign_bundle(tiny_export.bundle.read_bytes(), seed) == signed_export.bundle.read_bytes()


@pytest.mark.slow
def test_same_run_and_key_give_byte_identical_signed_bundles(signed_export, tiny_run, tmp_path, key_dir):
    from signalpack.export.exporter import export_run

    again = export_run(tiny_run.run_dir, tmp_path / "tiny.onnx", sign_key=key_dir / "alice")
    assert again.bundle.read_bytes() == signed_export.bundle.read_bytes()


@pytest.mark.slow
def test_export_runs_its_final_checks_on_the_signed_bytes(tiny_run, tmp_path, key_dir, monkeypatch):
    """A signing step that went wrong (here: the signature made with another key) is caught by the
    exporter's final check, which loads the signed bytes with the signer's public key: nothing is written."""
    from signalpack.errors import ExportError
    from signalpack.export import exporter

    mallory = keys(key_dir, "mallory").seed
    monkeypatch.setattr(exporter, "sign_bundle", lambda data, seed: sign_bundle(data, mallory))
    with pytest.raises(ExportError, match="fails the scorer's own check.*signed by another key"):
        exporter.export_run(tiny_run.run_dir, tmp_path / "b.onnx", sign_key=key_dir / "alice")
    assert list(tmp_path.iterdir()) == []


def test_onnx_checker_and_onnxruntime_accept_the_signed_file(signed_export):
    import onnxruntime as ort

    data = signed_export.bundle.read_bytes()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    onnx.checker.check_model(str(signed_export.bundle))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert set(meta) == {"signalpack.manifest", "signalpack.golden", SIGNATURE_KEY}
    bars = np.random.default_rng(0).uniform(90, 110, (2, session.get_inputs()[0].shape[1], 5))
    bars[:, :, 1] = bars.max(axis=2) + 1
    bars[:, :, 2] = bars[:, :, :4].min(axis=2) - 1
    probs = session.run(["probabilities"], {"ohlcv": bars})[0]
    assert probs.shape == (2, 3)


def test_signed_bundle_verifies_with_its_public_key_real_cli(signed_export, key_dir):
    r = cli("score", "verify", str(signed_export.bundle), "--trusted-key", str(key_dir / "alice.pub"),
            env=env_without_key())
    assert r.returncode == 0, r.stderr
    fingerprint = hashlib.sha256(keys(key_dir, "alice").raw_public).hexdigest()
    assert f"✓ signature              ed25519, key sha256 {fingerprint} (verified with the trusted key)" in r.stdout
    assert "reproduces its 32 golden vectors" in r.stdout


def test_without_a_trusted_key_a_signed_bundle_loads_and_inspect_says_not_checked(signed_export, tiny_export):
    b = load_bundle(signed_export.bundle)
    assert b.signature is not None and not b.signature.verified
    verify_bundle(b).raise_if_failed(b.path.name)
    doc = inspect_bundle(b)
    assert doc["signature"]["verified"] is False and doc["signature"]["algorithm"] == "ed25519"
    assert inspect_bundle(load_bundle(tiny_export.bundle))["signature"] is None
    r = cli("score", "inspect", str(signed_export.bundle), env=env_without_key())
    assert r.returncode == 0, r.stderr
    assert "(not checked: pass --trusted-key)" in r.stdout
    r = cli("score", "inspect", "--json", str(signed_export.bundle), env=env_without_key())
    assert json.loads(r.stdout)["signature"]["public_key_sha256"] == b.signature.public_key_sha256
    # the manifest and golden vectors read the same as the unsigned bundle's: the entry is ignored there
    plain = load_bundle(tiny_export.bundle)
    assert b.manifest == plain.manifest and b.info.metadata["signalpack.golden"] == plain.info.metadata["signalpack.golden"]


def test_signed_export_refuses_an_existing_signature(signed_export, key_dir):
    with pytest.raises(BundleError, match="already signed"):
        sign_bundle(signed_export.bundle.read_bytes(), keys(key_dir, "alice").seed)


# ----------------------------------------------------------------------------- tampering

def _flip_positions(n: int, count: int = 64) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, count).round().astype(int).tolist()))


def test_flipping_one_byte_anywhere_is_refused_in_process(signed_export, key_dir):
    """>= 50 positions spread evenly over the whole file, two flips each, plus every 3rd byte of the
    signature entry itself: every variant is refused (BundleError, exit 2); none loads."""
    data = signed_export.bundle.read_bytes()
    public = keys(key_dir, "alice").raw_public
    start = top_level_fields(data)[-1][1]
    positions = _flip_positions(len(data))
    assert len(positions) >= 50 and positions[0] == 0 and positions[-1] == len(data) - 1
    positions += list(range(start, len(data), 3))
    reasons: dict[str, int] = {}
    for pos in positions:
        for mask in (0x01, 0xFF):
            mutated = bytearray(data)
            mutated[pos] ^= mask
            with pytest.raises(BundleError) as info:
                open_bundle(bytes(mutated), Path("tiny.onnx"), trusted_key=public)
            assert info.value.exit_code == 2 and "\n" not in str(info.value)
            reason = str(info.value).split(": ", 1)[1].split(" (")[0][:40]
            reasons[reason] = reasons.get(reason, 0) + 1
    assert sum(reasons.values()) == 2 * len(positions)
    assert any(r.startswith("bad signature") for r in reasons), reasons


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_flipped_byte_real_cli_exits_non_zero(signed_export, key_dir, tmp_path, fraction):
    data = bytearray(signed_export.bundle.read_bytes())
    pos = round(fraction * (len(data) - 1))
    data[pos] ^= 0x01
    p = tmp_path / "flipped.onnx"
    p.write_bytes(bytes(data))
    r = cli("score", "verify", str(p), "--trusted-key", str(key_dir / "alice.pub"), env=env_without_key())
    assert r.returncode == 2, (pos, r.stdout, r.stderr)
    assert "flipped.onnx" in one_error_line(r)
    assert "OK" not in r.stdout


def test_bundle_signed_by_another_key_is_refused(tiny_export, key_dir, tmp_path):
    other = signed_copy(tiny_export.bundle, tmp_path, "other.onnx", key="mallory")
    shutil.copy(key_dir / "alice.pub", tmp_path / "alice.pub")
    r = cli("score", "verify", str(other), "--trusted-key", str(tmp_path / "alice.pub"), env=env_without_key())
    assert r.returncode == 2
    line = one_error_line(r)
    assert "other.onnx: signed by another key" in line
    # and the right key accepts it: the refusal is about the key, not the file
    r = cli("score", "verify", str(other), "--trusted-key", str(tmp_path / "mallory.pub"), env=env_without_key())
    assert r.returncode == 0, r.stderr


def test_a_forged_key_fingerprint_does_not_help(tiny_export, key_dir):
    """An attacker who signs with their own key but writes the trusted key's fingerprint into the entry."""
    alice, mallory = keys(key_dir, "alice"), keys(key_dir, "mallory")
    signed = sign_bundle(tiny_export.bundle.read_bytes(), mallory.seed)
    forged = signed.replace(hashlib.sha256(mallory.raw_public).hexdigest().encode(),
                            hashlib.sha256(alice.raw_public).hexdigest().encode())
    with pytest.raises(BundleError, match="bad signature"):
        verify_signature(forged, alice.raw_public, "forged.onnx")


def test_unsigned_bundle_with_trusted_key_is_refused(tiny_export, key_dir):
    r = cli("score", "verify", str(tiny_export.bundle), "--trusted-key", str(key_dir / "alice.pub"),
            env=env_without_key())
    assert r.returncode == 2
    assert "tiny.onnx: not signed" in one_error_line(r)


def test_signature_entry_must_be_last_and_only(signed_export, tiny_export, key_dir):
    data = signed_export.bundle.read_bytes()
    unsigned = tiny_export.bundle.read_bytes()
    entry = data[len(unsigned):]
    public = keys(key_dir, "alice").raw_public
    cases = {
        "not the last field": data + metadata_entry("note", "after the signature"),
        "2 signature entries": data + entry,
        "not the last field ": entry + unsigned,  # moved to the front
    }
    for needle, blob in cases.items():
        with pytest.raises(BundleError, match=needle.strip()):
            open_bundle(blob, Path("x.onnx"), trusted_key=public)
    # a second, differently-valued entry before the real one counts too
    with pytest.raises(BundleError, match="2 signature entries"):
        open_bundle(unsigned + metadata_entry(SIGNATURE_KEY, "{}") + entry, Path("x.onnx"), trusted_key=public)
    # an entry value that is not the canonical JSON document
    good = json.loads(entry[entry.index(b"{"):])
    spaced = json.dumps(good, sort_keys=True)  # the same document, not in the canonical (compact) form
    for value in ("{}", "[", '{"algorithm":"rsa","public_key_sha256":"00","signature":""}', "x" * 2000, spaced):
        with pytest.raises(BundleError, match="unreadable signature entry"):
            open_bundle(unsigned + metadata_entry(SIGNATURE_KEY, value), Path("x.onnx"), trusted_key=public)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_signed_bytes_raise_only_bundle_errors(signed_export, key_dir, data):
    """Random flips, truncations and insertions near the signature entry and anywhere in the file: the
    signature check either refuses with BundleError or (for the unmutated bytes only) passes; the
    unchecked reader never raises."""
    blob = bytearray(signed_export.bundle.read_bytes())
    start = top_level_fields(bytes(blob))[-1][1]
    public = keys(key_dir, "alice").raw_public
    near = st.integers(max(0, start - 16), len(blob) - 1)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = min(data.draw(st.one_of(near, st.integers(0, len(blob) - 1))), len(blob) - 1)
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if kind == "flip":
            blob[pos] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del blob[pos:]
        elif kind == "insert":
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif pos < len(blob):
            del blob[pos]
        if not blob:
            blob = bytearray(b"\x00")
    mutated = bytes(blob)
    find_signature(mutated, "m.onnx")
    if mutated != signed_export.bundle.read_bytes():
        with pytest.raises(BundleError):
            verify_signature(mutated, public, "m.onnx")


def test_without_a_trusted_key_a_malformed_entry_is_reported_not_refused(tiny_export):
    unsigned = tiny_export.bundle.read_bytes()
    info = find_signature(unsigned + metadata_entry(SIGNATURE_KEY, "{"), "x.onnx")
    assert info is not None and "unreadable signature entry" in info.problem
    assert find_signature(unsigned, "x.onnx") is None


def test_defect_04_pinning_catches_tampering_that_verify_misses(tiny_export, key_dir, tmp_path):
    """Defect 4: threshold 0.0 (every row actionable) passes schema and golden vectors. Pinned by hash or
    by key, the same file is refused; the untampered one passes both pins."""
    original = signed_copy(tiny_export.bundle, tmp_path, "signed.onnx", key="k")
    pub = tmp_path / "k.pub"
    sha = hashlib.sha256(original.read_bytes()).hexdigest()
    tampered = rewrite_manifest(original, tmp_path / "tampered.onnx", lambda m: m.update(confidence_threshold=0.0))
    # (rewrite_manifest keeps the other metadata entries, the signature included: now over other bytes)
    env = env_without_key()
    r = cli("score", "verify", str(original), "--expect-sha256", sha.upper(), "--trusted-key", str(pub), env=env)
    assert r.returncode == 0, r.stderr
    r = cli("score", "verify", str(tampered), "--expect-sha256", sha, env=env)
    assert r.returncode == 2 and "tampered.onnx: sha256" in one_error_line(r) and "is not the expected" in r.stderr
    r = cli("score", "verify", str(tampered), "--trusted-key", str(pub), env=env)
    assert r.returncode == 2
    line = one_error_line(r)
    assert "tampered.onnx" in line and ("bad signature" in line or "not the last field" in line or "not signed" in line)


# ----------------------------------------------------------------------------- $SCORE_TRUSTED_KEY, run

@pytest.mark.slow
def test_score_trusted_key_environment_variable(signed_export, tiny_export, key_dir):
    alice, mallory = str(key_dir / "alice.pub"), str(key_dir / "mallory.pub")
    signed, unsigned = str(signed_export.bundle), str(tiny_export.bundle)
    r = cli("score", "verify", signed, env=env_without_key(SCORE_TRUSTED_KEY=alice))
    assert r.returncode == 0 and "verified with the trusted key" in r.stdout, r.stderr
    r = cli("score", "verify", unsigned, env=env_without_key(SCORE_TRUSTED_KEY=alice))
    assert r.returncode == 2 and "not signed" in one_error_line(r)
    # the explicit option wins over the variable, both ways
    r = cli("score", "verify", signed, "--trusted-key", alice, env=env_without_key(SCORE_TRUSTED_KEY=mallory))
    assert r.returncode == 0, r.stderr
    r = cli("score", "verify", signed, "--trusted-key", mallory, env=env_without_key(SCORE_TRUSTED_KEY=alice))
    assert r.returncode == 2 and "signed by another key" in one_error_line(r)
    r = cli("score", "verify", signed, env=env_without_key(SCORE_TRUSTED_KEY=str(key_dir / "absent.pub")))
    assert r.returncode == 2 and "absent.pub: no such key file ($SCORE_TRUSTED_KEY)" in one_error_line(r)


def test_run_with_wrong_expect_sha256_writes_nothing_and_the_right_one_scores(signed_export, key_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    src = work / "prices.csv"
    src.write_text(GOOG.read_text())
    bundle = str(signed_export.bundle)
    right = signed_export.sha256
    wrong = right[:-1] + ("0" if right[-1] != "0" else "1")
    before = snapshot(work)
    env = env_without_key()
    for extra in (["--expect-sha256", wrong], ["--expect-sha256", "not-hex"], ["--trusted-key", str(key_dir / "mallory.pub")]):
        r = cli("score", "run", str(src), "--model", bundle, "--summary", str(work / "s.json"), *extra, env=env)
        assert r.returncode == 2, (extra, r.stderr)
        one_error_line(r)
        assert snapshot(work) == before, f"{extra} wrote something"
    r = cli("score", "run", str(src), "--model", bundle, "--expect-sha256", right.upper(), "--trusted-key",
            str(key_dir / "alice.pub"), "--summary", str(work / "s.json"), env=env)
    assert r.returncode == 0, r.stderr
    assert (work / "prices.signals.parquet").is_file()
    assert json.loads((work / "s.json").read_text())["rows_scored"] > 0


def test_spark_engine_checks_the_pins_on_the_driver_before_any_job(signed_export, key_dir, tmp_path):
    """score_spark refuses a mis-pinned bundle in its driver-side load, before Spark starts (no JVM here)."""
    pytest.importorskip("pyspark")
    from signalpack.score.spark_engine import score_spark

    out = tmp_path / "out"
    with pytest.raises(BundleError, match="is not the expected"):
        score_spark(str(GOOG), signed_export.bundle, str(out), expect_sha256="0" * 64)
    with pytest.raises(BundleError, match="signed by another key"):
        score_spark(str(GOOG), signed_export.bundle, str(out), trusted_key=keys(key_dir, "mallory").raw_public)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- keygen and key files

def test_keygen_writes_a_0600_private_key_and_a_public_key(tmp_path):
    r = cli("signalpack", "keygen", str(tmp_path / "signing"))
    assert r.returncode == 0, r.stderr
    private, public = tmp_path / "signing", tmp_path / "signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    der = base64.b64decode("".join(private.read_text().splitlines()[1:-1]))
    assert der[:16].hex() == "302e020100300506032b657004220420" and len(der) == 48
    der = base64.b64decode("".join(public.read_text().splitlines()[1:-1]))
    assert der[:12].hex() == "302a300506032b6570032100" and len(der) == 44
    assert ed25519.public_key(read_private_key(private)) == read_public_key(public)
    assert hashlib.sha256(read_public_key(public)).hexdigest() in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing", "signing.pub"]


@pytest.mark.parametrize("existing", ["signing", "signing.pub"])
def test_keygen_never_replaces_a_file(tmp_path, existing):
    (tmp_path / existing).write_text("precious")
    r = cli("signalpack", "keygen", str(tmp_path / "signing"))
    assert r.returncode == 2
    assert f"{existing}: already exists" in one_error_line(r, "signalpack")
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_text() == "precious"
    with pytest.raises(OutputExistsError):
        write_keypair(tmp_path / "signing")


def test_keygen_refuses_a_keyfile_named_like_a_public_key(tmp_path):
    r = cli("signalpack", "keygen", str(tmp_path / "signing.pub"))
    assert r.returncode == 2 and "do not end KEYFILE in .pub" in one_error_line(r, "signalpack")
    assert list(tmp_path.iterdir()) == []


@needs_openssl
def test_openssl_reads_our_keys_and_we_read_openssls(tmp_path, tiny_export):
    assert OPENSSL is not None
    r = cli("signalpack", "keygen", str(tmp_path / "ours"))
    assert r.returncode == 0, r.stderr
    derived = subprocess.run([OPENSSL, "pkey", "-in", str(tmp_path / "ours"), "-pubout"], capture_output=True, check=False)
    assert derived.returncode == 0 and derived.stdout == (tmp_path / "ours.pub").read_bytes()
    subprocess.run([OPENSSL, "genpkey", "-algorithm", "ed25519", "-out", str(tmp_path / "theirs")], check=True)
    subprocess.run([OPENSSL, "pkey", "-in", str(tmp_path / "theirs"), "-pubout", "-out", str(tmp_path / "theirs.pub")],
                   check=True)
    # a bundle signed with OpenSSL's key verifies with OpenSSL's public key through `score verify`
    signed = sign_bundle(tiny_export.bundle.read_bytes(), read_private_key(tmp_path / "theirs"))
    (tmp_path / "b.onnx").write_bytes(signed)
    r = cli("score", "verify", str(tmp_path / "b.onnx"), "--trusted-key", str(tmp_path / "theirs.pub"),
            env=env_without_key())
    assert r.returncode == 0, r.stderr


@needs_openssl
def test_docs_recipe_openssl_verifies_a_signed_bundle(signed_export, tiny_export, key_dir, tmp_path):
    """docs/bundle-format.md's recipe for other languages, run as written: docs/consumers/split_signature.py
    (standard library only) strips the last field, then OpenSSL verifies; a changed byte fails."""
    assert OPENSSL is not None
    script = Path(__file__).resolve().parents[2] / "docs" / "consumers" / "split_signature.py"
    verify = [OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", str(key_dir / "alice.pub"), "-rawin",
              "-in", "covered.bin", "-sigfile", "sig.bin"]
    r = subprocess.run([sys.executable, "-I", str(script), str(signed_export.bundle)], cwd=tmp_path,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(keys(key_dir, "alice").raw_public).hexdigest() in r.stdout
    assert (tmp_path / "covered.bin").read_bytes() == tiny_export.bundle.read_bytes()
    r = subprocess.run(verify, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "Signature Verified Successfully" in r.stdout, r.stderr
    covered = bytearray((tmp_path / "covered.bin").read_bytes())
    covered[len(covered) // 3] ^= 1
    (tmp_path / "covered.bin").write_bytes(bytes(covered))
    assert subprocess.run(verify, cwd=tmp_path, capture_output=True, check=False).returncode != 0
    # an unsigned bundle: the script says so and exits non-zero
    r = subprocess.run([sys.executable, "-I", str(script), str(tiny_export.bundle)], cwd=tmp_path,
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "not signed" in r.stderr


def _pem(label: str, der: bytes) -> str:
    return f"-----BEGIN {label}-----\n{base64.b64encode(der).decode()}\n-----END {label}-----\n"


@pytest.mark.parametrize("content, reader, error, needle", [
    ("public", "private", ConfigError, "is a public key; signing needs the private key file"),
    ("private", "public", ConfigError, "is a private key; a trusted key is the public key file"),
    ("", "private", ConfigError, "not a PEM key file"),
    ("garbage", "public", ConfigError, "not a PEM key file"),
    ("bad_base64", "public", ConfigError, "corrupt PEM key file"),
    ("short_der", "private", ConfigError, "not an Ed25519 private key"),
    ("x25519", "private", ConfigError, "not an Ed25519 private key"),
    ("x25519_pub", "public", ConfigError, "not an Ed25519 public key"),
    ("encrypted", "private", ConfigError, "encrypted private key"),
    ("openssh", "private", ConfigError, "'OPENSSH PRIVATE KEY' is not a PKCS#8 Ed25519 private key"),
    ("two_blocks", "public", ConfigError, "not a PEM key file"),
    ("small_order", "public", ConfigError, "not a usable Ed25519 public key"),
    ("binary", "private", ConfigError, "binary content"),
    ("missing", "public", InputError, "no such key file"),
    ("directory", "private", InputError, "is a directory"),
])
def test_key_files_are_parsed_strictly(tmp_path, content, reader, error, needle):
    k = keys(tmp_path, "good")
    pub_der = base64.b64decode("".join(k.public.read_text().splitlines()[1:-1]))
    priv_der = base64.b64decode("".join(k.private.read_text().splitlines()[1:-1]))
    texts = {
        "public": k.public.read_text(),
        "private": k.private.read_text(),
        "": "",
        "garbage": "hello\n",
        "bad_base64": k.public.read_text().replace("MCow", "MC*w"),
        "short_der": _pem("PRIVATE KEY", priv_der[:-1]),
        "x25519": _pem("PRIVATE KEY", bytes.fromhex("302e020100300506032b656e04220420") + priv_der[16:]),
        "x25519_pub": _pem("PUBLIC KEY", bytes.fromhex("302a300506032b656e032100") + pub_der[12:]),
        "encrypted": _pem("ENCRYPTED PRIVATE KEY", b"\x30\x00"),
        "openssh": _pem("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00"),
        "two_blocks": k.public.read_text() + k.public.read_text(),
        "small_order": _pem("PUBLIC KEY", pub_der[:12] + (1).to_bytes(32, "little")),
        "binary": None,
    }
    path = tmp_path / "candidate"
    if content == "directory":
        path.mkdir()
    elif content == "binary":
        path.write_bytes(b"\x00\xff" * 40)
    elif content != "missing":
        path.write_text(texts[content])
    read = read_private_key if reader == "private" else read_public_key
    with pytest.raises(error) as info:
        read(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message
    assert isinstance(info.value, SignalpackError) and info.value.exit_code == 2


def test_a_crlf_pem_reads_the_same(tmp_path):
    """CRLF line endings (a key file edited on Windows) read the same."""
    k = keys(tmp_path, "good")
    crlf = tmp_path / "crlf.pub"
    crlf.write_bytes(k.public.read_bytes().replace(b"\n", b"\r\n"))
    assert read_public_key(crlf) == k.raw_public


def test_a_fifo_key_file_is_refused_without_blocking(tmp_path):
    """A FIFO given as --trusted-key would block the open forever: refused on stat, one line."""
    fifo = tmp_path / "key.pub"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_public_key(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_private_key(fifo)
