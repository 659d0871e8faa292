"""``score run`` with ``s3://`` input and output (local engine), through a local S3-compatible server.

The server is moto's server mode (the ``moto[server]`` dev extra), started by the module's fixture on
127.0.0.1 and stopped at the end; nothing reaches the network beyond it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from signalpack.errors import ConfigError
from tests.conftest import GOOG

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")

BUCKET = "signalpack-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with one bucket; yields the environment that points at it."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as fh:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=fh, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        none = str(tmp_path_factory.mktemp("aws") / "none")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing-secret-xyzzy",
                   AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
                   AWS_SHARED_CREDENTIALS_FILE=none, AWS_CONFIG_FILE=none)
        client(env).create_bucket(Bucket=BUCKET)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def client(env):
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1")


def keys(env) -> list[str]:
    return [o["Key"] for o in client(env).list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _score(*args: str, env) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from signalpack.score.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def _one_clean_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].isprintable(), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def goog_parquet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("in") / "goog.parquet"
    pl.read_csv(GOOG).write_parquet(path)
    return path


@pytest.mark.slow
def test_s3_round_trip_equals_local_run(s3_env, goog_parquet, tmp_path):
    s3 = client(s3_env)
    s3.upload_file(str(goog_parquet), BUCKET, "in/goog.parquet")
    local = tmp_path / "local.parquet"
    r = _score("run", str(goog_parquet), "--output", str(local), env=s3_env)
    assert r.returncode == 0, r.stderr
    r = _score("run", f"s3://{BUCKET}/in/goog.parquet", "--output", f"s3://{BUCKET}/out/goog.signals.parquet",
               "--summary", str(tmp_path / "s.json"), env=s3_env)
    assert r.returncode == 0, r.stderr
    assert f"s3://{BUCKET}/out/goog.signals.parquet" in r.stderr
    assert "testing-secret-xyzzy" not in r.stderr + r.stdout
    got = tmp_path / "got.parquet"
    s3.download_file(BUCKET, "out/goog.signals.parquet", str(got))
    assert_frame_equal(pl.read_parquet(got), pl.read_parquet(local))
    assert got.read_bytes() == local.read_bytes()
    assert '"output": "s3://signalpack-test/out/goog.signals.parquet"' in (tmp_path / "s.json").read_text()

    # no clobbering: refused before any scoring without --overwrite; replaced with it
    r = _score("run", f"s3://{BUCKET}/in/goog.parquet", "--output", f"s3://{BUCKET}/out/goog.signals.parquet",
               env=s3_env)
    assert "already exists; pass --overwrite" in _one_clean_line(r)
    r = _score("run", f"s3://{BUCKET}/in/goog.parquet", "--output", f"s3://{BUCKET}/out/goog.signals.parquet",
               "--overwrite", "--since", "2012-06-01", env=s3_env)
    assert r.returncode == 0, r.stderr
    s3.download_file(BUCKET, "out/goog.signals.parquet", str(got))
    full = pl.read_parquet(local)
    assert_frame_equal(pl.read_parquet(got), full.filter(pl.col("timestamp") >= pl.datetime(2012, 6, 1)))

    # an s3 input to a local output (the default name is beside the input: here, an explicit one)
    r = _score("run", f"s3://{BUCKET}/in/goog.parquet", "-o", str(tmp_path / "back.parquet"), env=s3_env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.parquet").read_bytes() == local.read_bytes()


@pytest.mark.slow
def test_credentials_from_the_shared_credentials_file(s3_env, goog_parquet, tmp_path):
    client(s3_env).upload_file(str(goog_parquet), BUCKET, "files/goog.parquet")
    creds = tmp_path / "credentials"
    creds.write_text("[nightly]\naws_access_key_id = fromfile\naws_secret_access_key = file-secret-plugh\n")
    env = {k: v for k, v in s3_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE="nightly")
    r = _score("run", f"s3://{BUCKET}/files/goog.parquet", env=env)  # default output: beside the input
    assert r.returncode == 0, r.stderr
    assert "files/goog.signals.parquet" in keys(env)
    assert "file-secret-plugh" not in r.stderr + r.stdout
    env["AWS_PROFILE"] = "missing"
    line = _one_clean_line(_score("run", f"s3://{BUCKET}/files/goog.parquet", "-o",
                                  f"s3://{BUCKET}/files/other.parquet", env=env))
    assert "no AWS credentials" in line and "file-secret-plugh" not in line


@pytest.mark.slow
def test_missing_object_and_bucket_refused_in_one_line(s3_env, tmp_path):
    line = _one_clean_line(_score("run", f"s3://{BUCKET}/nothing.parquet", "-o", str(tmp_path / "o.parquet"),
                                  env=s3_env))
    assert line.endswith(f"s3://{BUCKET}/nothing.parquet: no such object")
    line = _one_clean_line(_score("run", GOOG.as_posix(), "-o", "s3://no-such-bucket-zz/o.parquet", env=s3_env))
    assert line.endswith("s3://no-such-bucket-zz/o.parquet: no such bucket")
    client(s3_env).put_object(Bucket=BUCKET, Key="junk.parquet", Body=b"date,open\n\x1b[31m,1\n")
    line = _one_clean_line(_score("run", f"s3://{BUCKET}/junk.parquet", "-o", str(tmp_path / "o.parquet"),
                                  env=s3_env))
    assert line.startswith(f"score: error: s3://{BUCKET}/junk.parquet: cannot be read as a parquet object")
    line = _one_clean_line(_score("run", GOOG.as_posix(), "-o", f"s3://{BUCKET}/junk.parquet", env=s3_env))
    assert line.endswith(f"s3://{BUCKET}/junk.parquet: already exists; pass --overwrite to replace it")
    assert not list(tmp_path.iterdir())


def test_failed_run_leaves_no_object(s3_env, tmp_path):
    short = tmp_path / "short.parquet"
    pl.read_csv(GOOG).head(20).write_parquet(short)
    line = _one_clean_line(_score("run", str(short), "-o", f"s3://{BUCKET}/short.signals.parquet", env=s3_env))
    assert "short" in line
    assert "short.signals.parquet" not in keys(s3_env)


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from signalpack.score import objstore
    print("ready", flush=True)
    objstore.write_parts([Path(sys.argv[1])], sys.argv[2])
    print("done", flush=True)
""")


def test_killed_s3_write_leaves_no_object(s3_env, tmp_path):
    """SIGKILL in the middle of the upload (a multipart one is under way): the bucket lists no object."""
    import numpy as np

    big = tmp_path / "big.parquet"
    rng = np.random.default_rng(0)
    n = 6_000_000
    pl.DataFrame({"a": rng.random(n), "b": rng.random(n)}).write_parquet(big, statistics=False)
    s3 = client(s3_env)
    key = "killed.signals.parquet"
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(big), f"s3://{BUCKET}/{key}"],
                         env=s3_env, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not [u for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) if u["Key"] == key]:
            assert p.poll() is None, "the upload finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == -signal.SIGKILL
    assert key not in keys(s3_env)
    # the same write, not killed, completes the object
    r = subprocess.run([sys.executable, "-c", _WRITER, str(big), f"s3://{BUCKET}/{key}"], env=s3_env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert key in keys(s3_env)


S3_LAYOUTS = ["hive symbol=/date=", "hive date=, files unsorted", "glob by year", "glob over hive symbol="]


@pytest.fixture(scope="module")
def single_file_output(tmp_path_factory) -> bytes:
    """The local output of the one file holding every bar of ``test_datasets.BARS``."""
    from signalpack.score.bundle import DEFAULT_BUNDLE, load_bundle
    from signalpack.score.runner import score_file
    from tests.score.test_datasets import BARS, _as_file

    folder = tmp_path_factory.mktemp("single")
    _as_file(BARS, folder / "all.parquet")
    score_file(folder / "all.parquet", load_bundle(DEFAULT_BUNDLE), folder / "out.parquet")
    return (folder / "out.parquet").read_bytes()


def _upload_tree(env, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client(env).upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(root).as_posix()}")


@pytest.mark.slow
@pytest.mark.parametrize("layout", S3_LAYOUTS)
def test_s3_prefix_and_glob_datasets_give_the_single_file_bytes(s3_env, single_file_output, tmp_path, layout):
    from tests.score.cli_inprocess import score_cli
    from tests.score.test_datasets import LAYOUTS

    write, spec, _ = LAYOUTS[layout]
    n = S3_LAYOUTS.index(layout)
    write(tmp_path / "prices", ".parquet")
    _upload_tree(s3_env, tmp_path / "prices", f"ds{n}")
    client(s3_env).put_object(Bucket=BUCKET, Key=f"ds{n}/_SUCCESS", Body=b"")  # skipped, as in a folder
    source = spec.format(root=f"s3://{BUCKET}/ds{n}", suffix=".parquet")
    source = source + "/" if source.endswith(f"ds{n}") else source
    out = f"s3://{BUCKET}/out/ds{n}.signals.parquet"
    code, err = score_cli("run", source, "--output", out, env=s3_env)
    assert code == 0, err
    client(s3_env).download_file(BUCKET, f"out/ds{n}.signals.parquet", str(tmp_path / "got.parquet"))
    assert (tmp_path / "got.parquet").read_bytes() == single_file_output
    if n == 0:
        # --since over an s3 dataset: the full output's tail
        code, err = score_cli("run", source, "--since", "2011-01-01", "-o", str(tmp_path / "tail.parquet"), env=s3_env)
        assert code == 0, err
        full = pl.read_parquet(tmp_path / "got.parquet")
        assert pl.read_parquet(tmp_path / "tail.parquet").equals(full.filter(pl.col("timestamp") >= pl.datetime(2011, 1, 1)))
        # an output inside the input prefix is refused (a rerun would read it), before any work
        code, err = score_cli("run", source, "--output", f"s3://{BUCKET}/ds{n}/o.parquet", env=s3_env)
        assert code == 2 and "is inside the input dataset" in err and err.count("\n") == 1
        code, err = score_cli("run", f"s3://{BUCKET}/nothing-here/", "-o", str(tmp_path / "x.parquet"), env=s3_env)
        assert code == 2 and err.rstrip().endswith(f"s3://{BUCKET}/nothing-here/: names no parquet object"), err


DATASET_URIS = [
    ("s3://bucket/prices/", None),
    ("s3://bucket/prices/*.parquet", None),
    ("s3://bucket/prices/**/part-?.pq", None),
    ("s3://bucket/prices/*.csv", "only parquet objects"),
    ("s3://bucket/prices/[ab].parquet", "outside letters"),
    ("s3://bucket/a b/*.parquet", "outside letters"),
    ("s3://bucket/prices//", "empty, '.' or '..' segment"),
    ("s3://bucket/../*.parquet", "empty, '.' or '..' segment"),
]


@pytest.mark.parametrize(("uri", "why"), DATASET_URIS)
def test_dataset_uris_accepted_for_input_only(uri, why):
    from signalpack.score.objstore import check_uri

    if why is None:
        check_uri(uri, dataset=True)
        with pytest.raises(ConfigError):
            check_uri(uri, "--output")
    else:
        with pytest.raises(ConfigError, match=why.replace(".", r"\.").replace("(", r"\(")):
            check_uri(uri, dataset=True)


BAD = [
    ("http://example.com/p.parquet", "only s3:// URIs are supported"),
    ("gs://bucket/p.parquet", "only s3:// URIs are supported"),
    ("file:///etc/passwd", "only s3:// URIs are supported"),
    ("s3://", "not a valid S3 bucket name"),
    ("s3://bucket", "no object key"),
    ("s3://bucket/", "no object key"),
    ("s3://Bad_Bucket/p.parquet", "not a valid S3 bucket name"),
    ("s3://192.168.0.1/p.parquet", "not a valid S3 bucket name"),
    ("s3://bucket/a\x1b[31m.parquet", "outside letters"),
    ("s3://bucket/a\nb.parquet", "outside letters"),
    ("s3://bucket/*.parquet", "outside letters"),
    ("s3://bucket/a b.parquet", "outside letters"),
    ("s3://bucket/p.parquet?x=1", "outside letters"),
    ("s3://bucket/prices/", "names a prefix"),
    ("s3://bucket/a//b.parquet", "empty, '.' or '..' segment"),
    ("s3://bucket/../b.parquet", "empty, '.' or '..' segment"),
    ("s3://bucket/prices.csv", "only parquet objects"),
    ("s3://bucket/" + "k" * 1100 + ".parquet", "longer than S3's 1024 bytes"),
]


@pytest.mark.parametrize(("uri", "why"), BAD)
def test_bad_uris_refused(uri, why):
    from signalpack.errors import printable
    from signalpack.score.objstore import check_uri

    with pytest.raises(ConfigError) as info:
        check_uri(uri)
    text = printable(str(info.value), 2000)
    assert why in text and "\n" not in text and "\x1b" not in text


def test_bad_uris_refused_by_the_cli_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for args in (["gs://bucket/p.parquet"], ["s3://bucket"], [GOOG.as_posix(), "-o", "http://x/o.parquet"],
                 ["s3://bucket/a\x1b]0;pwned\x07.parquet"], ["s3://bucket/p.parquet", "--engine", "spark"]):
        line = _one_clean_line(_score("run", *args, env=env))
        assert "\x1b" not in line and "\x07" not in line
    assert not list(tmp_path.iterdir())


def test_temporary_target_is_removed_and_stale_ones_cleaned(tmp_path, monkeypatch):
    """The local work folder of an s3:// output goes on every exit; a killed run's (dead pid) goes next time."""
    import tempfile

    from signalpack.atomic import temp_path
    from signalpack.score import objstore

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / temp_path(tmp_path / "s3-output").name.replace(f"-{os.getpid()}-", f"-{dead}-", 1)
    (stale / "output.parquet.parts").mkdir(parents=True)
    with pytest.raises(RuntimeError), objstore.temporary_target() as tmp:
        assert not stale.exists()
        assert tmp.parent.parent == tmp_path
        (tmp.parent / "output.parquet.parts").mkdir()
        raise RuntimeError("boom")
    assert not list(tmp_path.iterdir())
