"""``s3://`` inputs and outputs for ``score run`` (local engine), through polars' own object store.

No extra dependency: polars reads and writes ``s3://`` itself. This module only

- **validates a URI** from the command line before anything uses it (``check_uri``): the scheme
  must be ``s3``; the bucket an S3 bucket name; the key non-empty, of S3's safe characters
  (letters, digits, ``! - _ . ' ( ) / = , + @``), no empty, ``.`` or ``..`` segment, at most
  1024 bytes, naming one parquet object (``.parquet``/``.pq``); an INPUT may also be a prefix
  (``s3://b/prices/``) or a glob (``*``, ``**``, ``?``) of parquet objects, listed by
  ``list_objects`` through polars. Other schemes (``http://``, ``gs://``, ``file://``), CSV
  objects and brackets are refused with one line;
- **builds the storage options** (``storage_options``) from the standard AWS environment
  variables and config files, and passes them explicitly: polars then never falls back to
  other credential sources (boto3 when installed, the EC2 instance metadata service), so
  the only host contacted is the user's endpoint (AWS's S3 by default). Credentials are
  never put in a message;
- **checks the destination** (``check_destination``) before any scoring: an existing object
  is refused without ``--overwrite``, a missing bucket at once;
- **writes** (``write_parts``) the scored parts, built locally, as one object with one
  ``sink_parquet``: polars uploads it as a multipart upload (or one PUT when small) that is
  completed last, so a reader sees the whole object or none; a run killed mid-upload leaves
  no object (only an incomplete multipart upload, which S3 does not list and a bucket
  lifecycle rule ``AbortIncompleteMultipartUpload`` removes).
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from signalpack.errors import ConfigError, InputError, OutputError, OutputExistsError, first_line, printable

__all__ = ["check_destination", "check_uri", "default_output", "is_uri", "scan", "storage_options",
           "temporary_target", "write_parts"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_CHARS = re.compile(r"^[A-Za-z0-9!\-_.'()/=,+@]+$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
MAX_KEY_BYTES = 1024
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_uri(spec: object) -> bool:
    """Whether ``spec`` is a URI (``scheme://...``: ``s3://b/k``, ``http://x``, ``file:///x``), not a local path."""
    if not isinstance(spec, str):
        return False
    m = _SCHEME.match(spec)
    return m is not None and spec[m.end():].startswith("//")


def check_uri(spec: str, what: str = "INPUT", dataset: bool = False) -> tuple[str, str]:
    """(bucket, key) of an ``s3://`` URI naming one parquet object, else one ConfigError line naming it.

    dataset : also accept a prefix (``s3://b/prices/``, its parquet objects) or a glob of parquet
        objects (``s3://b/prices/*/part-*.parquet``; ``*``, ``**`` and ``?``): an INPUT, never an output.
    """
    shown = printable(repr(spec), 120)
    m = _SCHEME.match(spec)
    scheme = m.group(1).lower() if m else ""
    if m is None or scheme != "s3" or not spec[m.end():].startswith("//"):
        raise ConfigError(
            f"{what} {shown}: only s3:// URIs are supported (not {printable(scheme, 20) or 'this'}://); "
            "give an s3://bucket/key.parquet URI or a local path"
        )
    rest = spec[m.end() + 2:]
    bucket, slash, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket or _IP.match(bucket):
        raise ConfigError(f"{what} {shown}: not a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    if not slash or not key:
        raise ConfigError(f"{what} {shown}: no object key; give s3://{bucket}/KEY.parquet")
    if not _KEY_CHARS.match(key.replace("*", "").replace("?", "") if dataset else key) or (dataset and key.count("*") > 64):
        raise ConfigError(
            f"{what} {shown}: the key holds a character outside letters, digits and ! - _ . ' ( ) / = , + @ "
            + ("and the wildcards * ? (spaces, brackets and control characters are not supported)" if dataset
               else "(globs, prefixes, spaces and control characters are not supported)")
        )
    segments = key.split("/")
    if key.endswith("/"):
        if not dataset:
            raise ConfigError(f"{what} {shown}: names a prefix, not an object; give one .parquet object")
        segments = segments[:-1]
    if any(s in ("", ".", "..") for s in segments):
        raise ConfigError(f"{what} {shown}: the key has an empty, '.' or '..' segment")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ConfigError(f"{what} {shown}: the key is longer than S3's {MAX_KEY_BYTES} bytes")
    if not key.endswith("/") and not key.lower().endswith(PARQUET_SUFFIXES):
        raise ConfigError(f"{what} {shown}: only parquet objects (.parquet, .pq) are supported on s3://")
    return bucket, key


def is_dataset_uri(spec: str) -> bool:
    """Whether an ``s3://`` INPUT names a prefix or a glob (several objects), not one object."""
    return spec.endswith("/") or "*" in spec or "?" in spec


MAX_LISTED = 100_000
"""The most objects one prefix or glob may name."""


def list_objects(spec: str) -> list[str]:
    """The parquet objects a prefix (``s3://b/p/``: every ``.parquet``/``.pq`` object below it) or a
    glob names, sorted by key; listed through polars' object store (each object's footer is read).
    Keys with a ``.`` or ``_`` segment below the prefix (``_SUCCESS``, ``_temporary/``, ``.tmp``) are skipped."""
    check_uri(spec, dataset=True)
    opts = storage_options(spec)
    patterns = [spec + "**/*.parquet", spec + "**/*.pq"] if spec.endswith("/") else [spec]
    static = spec[: min([spec.index(c) for c in "*?" if c in spec] or [len(spec)])]
    static = static[: static.rfind("/") + 1]
    found: set[str] = set()
    for pattern in patterns:
        lf = pl.scan_parquet(pattern, storage_options=opts, credential_provider=None, hive_partitioning=False,
                             include_file_paths="__signalpack_path", missing_columns="insert",
                             extra_columns="ignore")
        try:
            paths = lf.select("__signalpack_path").unique().collect().get_column("__signalpack_path").to_list()
        except FileNotFoundError as exc:
            if "NoSuchBucket" in str(exc):
                raise InputError(f"{printable(spec, 200)}: no such bucket") from exc
            continue
        except (pl.exceptions.PolarsError, OSError) as exc:
            text = str(exc)
            if "expanded paths were empty" in text or "no such file" in text.lower():
                continue
            raise InputError(f"{printable(spec, 200)}: cannot list or read its parquet objects ({_reason(exc)})") from exc
        found.update(paths)
    keep = sorted(p for p in found if not any(seg.startswith((".", "_")) for seg in p[len(static):].split("/")))
    if not keep:
        raise InputError(f"{printable(spec, 200)}: names no parquet object")
    if len(keep) > MAX_LISTED:
        raise InputError(f"{printable(spec, 200)}: names {len(keep):,} objects, more than {MAX_LISTED:,}")
    return keep


def default_output(uri: str) -> str:
    """``s3://b/prices.parquet`` → ``s3://b/prices.signals.parquet`` (beside the input, as for files);
    a prefix ``s3://b/prices/`` → ``s3://b/prices.signals.parquet``; a glob has none (one line)."""
    if "*" in uri or "?" in uri:
        raise ConfigError(f"{printable(uri, 200)}: a glob input needs --output (there is no one place beside it "
                          "to write to)")
    stem = uri.rstrip("/")
    for suffix in PARQUET_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return f"{stem}.signals.parquet"


def _ini(path: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(default_section="__none__", interpolation=None, strict=False)
    with contextlib.suppress(OSError, configparser.Error, UnicodeDecodeError):
        parser.read(path, encoding="utf-8")
    return parser


def _get(parser: configparser.RawConfigParser, section: str, key: str) -> str | None:
    if parser.has_section(section) and parser.has_option(section, key):
        value = (parser.get(section, key) or "").strip()
        return value or None
    return None


def storage_options(uri: str) -> dict[str, str]:
    """polars ``storage_options`` for ``uri`` from the standard AWS settings, every one explicit.

    Credentials: ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), else the
    profile's keys in the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``, default
    ``~/.aws/credentials``) or the config file (``AWS_CONFIG_FILE``, default ``~/.aws/config``); the
    profile is ``AWS_PROFILE`` (or ``AWS_DEFAULT_PROFILE``), else ``default``. Region: ``AWS_REGION``,
    ``AWS_DEFAULT_REGION``, else the profile's ``region``. Endpoint (S3-compatible stores):
    ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, else the profile's ``endpoint_url``.
    """
    env = os.environ
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    cred_file = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.expanduser("~/.aws/credentials")
    conf_file = env.get("AWS_CONFIG_FILE") or os.path.expanduser("~/.aws/config")
    creds, conf = _ini(cred_file), _ini(conf_file)
    conf_section = profile if profile == "default" else f"profile {profile}"

    def from_files(key: str) -> str | None:
        return _get(creds, profile, key) or _get(conf, conf_section, key)

    opts: dict[str, str] = {}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        opts["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        opts["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            opts["aws_session_token"] = env["AWS_SESSION_TOKEN"]
    else:
        key_id, secret = from_files("aws_access_key_id"), from_files("aws_secret_access_key")
        if not (key_id and secret):
            raise ConfigError(
                f"{printable(uri, 120)}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                f"or give profile {printable(repr(profile), 60)} aws_access_key_id and aws_secret_access_key in "
                f"{printable(cred_file, 200)} (AWS_PROFILE picks the profile)"
            )
        opts["aws_access_key_id"], opts["aws_secret_access_key"] = key_id, secret
        token = from_files("aws_session_token")
        if token:
            opts["aws_session_token"] = token
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or _get(conf, conf_section, "region")
    if region:
        opts["aws_region"] = region
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or _get(conf, conf_section, "endpoint_url")
    if endpoint:
        if not re.match(r"^https?://[^\s/@]+(/\S*)?$", endpoint, re.IGNORECASE):
            # the value is not shown: an endpoint URL may carry a user and password
            raise ConfigError(f"{printable(uri, 120)}: the AWS endpoint URL (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL "
                              "or the profile's endpoint_url) is not an http:// or https:// URL without user info")
        opts["aws_endpoint_url"] = endpoint
        if endpoint.lower().startswith("http://"):
            opts["aws_allow_http"] = "true"  # the user's own plain-http endpoint (a local S3-compatible server)
    return opts


def _reason(exc: BaseException) -> str:
    """A short, one-line reason from an object-store error (its S3 error code when it carries one)."""
    text = str(exc)
    code = re.search(r"<Code>([A-Za-z]{1,60})</Code>", text)
    if code:
        return code.group(1)
    return first_line(exc, 200)


def scan(uri: str, opts: dict[str, str] | None = None) -> pl.LazyFrame:
    """The parquet object at ``uri`` as a lazy frame (checked to exist, with a one-line error if not)."""
    opts = storage_options(uri) if opts is None else opts
    lf = pl.scan_parquet(uri, storage_options=opts, credential_provider=None, glob=False)
    try:
        lf.collect_schema()
    except FileNotFoundError as exc:
        what = "no such bucket" if "NoSuchBucket" in str(exc) else "no such object"
        raise InputError(f"{printable(uri, 200)}: {what}") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{printable(uri, 200)}: cannot be read as a parquet object ({_reason(exc)})") from exc
    return lf


def check_destination(uri: str, overwrite: bool) -> None:
    """Refuse an existing object at ``uri`` unless ``overwrite``, and a missing bucket (before any work)."""
    check_uri(uri, "--output")
    opts = storage_options(uri)
    try:
        pl.scan_parquet(uri, storage_options=opts, credential_provider=None, glob=False).collect_schema()
    except FileNotFoundError as exc:
        if "NoSuchBucket" in str(exc):
            raise OutputError(f"{printable(uri, 200)}: no such bucket") from exc
        return  # absent: the normal case
    except OSError as exc:
        raise OutputError(f"{printable(uri, 200)}: cannot check the destination ({_reason(exc)})") from exc
    except pl.exceptions.PolarsError:
        pass  # an object is there, not a readable parquet one: it exists all the same
    if not overwrite:
        raise OutputExistsError(f"{printable(uri, 200)}: already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def temporary_target() -> Iterator[Path]:
    """A local work file name (its parts and sort spill go beside it, in a private temporary folder
    under ``$TMPDIR``), removed on every exit; the object is written from the parts by ``write_parts``.
    The folder has signalpack's temporary name (pid, host): a killed run's is removed by the next one."""
    from signalpack.atomic import clean_stale, temp_path

    anchor = Path(tempfile.gettempdir()) / "s3-output"
    clean_stale(anchor)
    work = Path(tempfile.mkdtemp(prefix=temp_path(anchor).name + "-", dir=anchor.parent))
    try:
        yield work / "output.parquet"
    finally:
        try:
            shutil.rmtree(work, ignore_errors=True)
        except BaseException:  # an interrupted removal is finished before the exception goes on
            shutil.rmtree(work, ignore_errors=True)
            raise


def write_parts(files: list[Path], uri: str) -> None:
    """The parts as one parquet object at ``uri``: one streamed upload, completed last (complete or absent)."""
    opts = storage_options(uri)
    try:
        pl.scan_parquet(files).sink_parquet(uri, statistics=False, maintain_order=True,
                                            storage_options=opts, credential_provider=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise OutputError(f"{printable(uri, 200)}: cannot write ({_reason(exc)})") from exc
