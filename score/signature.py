"""Signed bundles: Ed25519 key files, the signature entry inside the .onnx file, and its checks.

A signed bundle is the exported bytes ``B`` followed by one more top-level protobuf field,
a ``ModelProto.metadata_props`` entry (field 14)::

    B + 0x72 <len> { 0x0a <len> "signalpack.signature"  0x12 <len> JSON }

with JSON = ``{"algorithm": "ed25519", "public_key_sha256": <hex>, "signature": <base64>}``
(sorted keys, compact), the signature being Ed25519 over every byte of ``B``. Protobuf
merges a repeated field's entries wherever they appear, so ``B + entry`` is still one valid
ONNX model (onnx.checker and onnxruntime load it). A verifier in any language strips the
last top-level field and checks the signature over what precedes it.

With a trusted key the check is strict: the entry must exist, be the only one with its
key, be the file's last field and be encoded canonically; the key must be the trusted one
and the signature valid. Without a trusted key a signature is reported (``score
inspect``/``verify``) but neither required nor checked.

Key files are PEM: the private key PKCS#8 ("BEGIN PRIVATE KEY", RFC 8410), the public key
SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") — what ``openssl genpkey -algorithm ed25519``
and ``openssl pkey -pubout`` read and write.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from signalpack.atomic import check_destination, temp_path
from signalpack.errors import BundleError, ConfigError, InputError, OutputError, OutputExistsError
from signalpack.score import ed25519
from signalpack.score.protobuf import ProtobufError, _fields, top_level_fields

__all__ = [
    "ALGORITHM",
    "SIGNATURE_KEY",
    "SignatureInfo",
    "check_sha256",
    "find_signature",
    "key_sha256",
    "normalize_sha256",
    "private_key_pem",
    "public_key_pem",
    "read_private_key",
    "read_public_key",
    "resolve_trusted_key",
    "sign_bundle",
    "verify_signature",
    "write_keypair",
]

SIGNATURE_KEY = "signalpack.signature"
ALGORITHM = "ed25519"

_METADATA_FIELD = 14  # ModelProto.metadata_props
_PRIVATE_DER_PREFIX = bytes.fromhex("302e020100300506032b657004220420")  # PKCS#8 v1, OID 1.3.101.112
_PUBLIC_DER_PREFIX = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo, OID 1.3.101.112
_MAX_KEY_FILE = 64 * 1024
_MAX_ENTRY_VALUE = 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class SignatureInfo:
    """A bundle's signature as found in the file; ``verified`` only after a trusted-key check."""

    algorithm: str = ""
    public_key_sha256: str = ""
    verified: bool = False
    problem: str = ""
    """Why an unchecked signature entry is unreadable ("" if it is readable)."""

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"algorithm": self.algorithm, "public_key_sha256": self.public_key_sha256,
                                "verified": self.verified}
        if self.problem:
            d["problem"] = self.problem
        return d

    def line(self) -> str:
        """One line for ``score inspect``/``verify``."""
        if self.problem:
            return f"malformed signature entry ({self.problem}); not checked"
        state = "verified with the trusted key" if self.verified else "not checked: pass --trusted-key"
        return f"{self.algorithm}, key sha256 {self.public_key_sha256} ({state})"


# --------------------------------------------------------------------------- key files

def key_sha256(public: bytes) -> str:
    """The hex sha256 of a raw 32-byte public key: the key's name in a signature entry and in messages."""
    return hashlib.sha256(public).hexdigest()


def _pem(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode("ascii")


def private_key_pem(seed: bytes) -> bytes:
    """PKCS#8 PEM of a 32-byte Ed25519 seed (the form ``openssl genpkey -algorithm ed25519`` writes)."""
    if len(seed) != ed25519.SEED_BYTES:
        raise ValueError("an Ed25519 private key is a 32-byte seed")
    return _pem("PRIVATE KEY", _PRIVATE_DER_PREFIX + seed)


def public_key_pem(public: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of a 32-byte Ed25519 public key (``openssl pkey -pubout``'s form)."""
    if len(public) != ed25519.PUBLIC_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return _pem("PUBLIC KEY", _PUBLIC_DER_PREFIX + public)


def _read_key_file(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: no such key file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a key file")
    if not path.is_file():  # a FIFO or device would block the open or never end
        raise InputError(f"{path}: not a regular file, expected a key file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the key file ({exc.strerror or exc})") from exc
    if len(data) > _MAX_KEY_FILE:
        raise ConfigError(f"{path}: over {_MAX_KEY_FILE} bytes, not a PEM key file")
    return data


def _parse_pem(path: Path, data: bytes) -> tuple[str, bytes]:
    """(label, DER) of a file holding exactly one PEM block and nothing else."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a PEM key file (binary content)") from None
    lines = [ln.rstrip("\r") for ln in text.strip().split("\n")]
    begin = re.fullmatch(r"-----BEGIN ([A-Z0-9 ]{1,40})-----", lines[0]) if lines else None
    end = re.fullmatch(r"-----END ([A-Z0-9 ]{1,40})-----", lines[-1]) if len(lines) > 1 else None
    if (begin is None or end is None or begin.group(1) != end.group(1)
            or any(ln.startswith("-----") for ln in lines[1:-1])):
        raise ConfigError(f"{path}: not a PEM key file (expected one '-----BEGIN ...-----' block and nothing else)")
    body = "".join(lines[1:-1])
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", body):
        raise ConfigError(f"{path}: corrupt PEM key file (the body is not base64)")
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{path}: corrupt PEM key file (the body is not base64)") from None
    return begin.group(1), der


def read_private_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte seed from a PKCS#8 PEM Ed25519 private key file (strict; one-line errors)."""
    path = Path(path)
    label, der = _parse_pem(path, _read_key_file(path))
    if label == "PUBLIC KEY":
        raise ConfigError(f"{path}: is a public key; signing needs the private key file "
                          "(KEYFILE, not KEYFILE.pub)")
    if label == "ENCRYPTED PRIVATE KEY":
        raise ConfigError(f"{path}: is an encrypted private key; use an unencrypted PKCS#8 Ed25519 key "
                          "(signalpack keygen, or openssl genpkey -algorithm ed25519)")
    if label != "PRIVATE KEY":
        raise ConfigError(f"{path}: PEM block '{label}' is not a PKCS#8 Ed25519 private key "
                          "('BEGIN PRIVATE KEY'; see signalpack keygen)")
    if len(der) != len(_PRIVATE_DER_PREFIX) + ed25519.SEED_BYTES or not der.startswith(_PRIVATE_DER_PREFIX):
        raise ConfigError(f"{path}: not an Ed25519 private key (another algorithm, or a corrupt key)")
    return der[len(_PRIVATE_DER_PREFIX):]


def read_public_key(path: str | os.PathLike[str]) -> bytes:
    """The raw 32-byte public key from a SubjectPublicKeyInfo PEM Ed25519 public key file (strict)."""
    path = Path(path)
    label, der = _parse_pem(path, _read_key_file(path))
    if label in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
        raise ConfigError(f"{path}: is a private key; a trusted key is the public key file (KEYFILE.pub)")
    if label != "PUBLIC KEY":
        raise ConfigError(f"{path}: PEM block '{label}' is not an Ed25519 public key ('BEGIN PUBLIC KEY')")
    if len(der) != len(_PUBLIC_DER_PREFIX) + ed25519.PUBLIC_BYTES or not der.startswith(_PUBLIC_DER_PREFIX):
        raise ConfigError(f"{path}: not an Ed25519 public key (another algorithm, or a corrupt key)")
    public = der[len(_PUBLIC_DER_PREFIX):]
    if not ed25519.valid_public_key(public):
        raise ConfigError(f"{path}: not a usable Ed25519 public key (not a canonical point of large order)")
    return public


def _write_new(dest: Path, data: bytes, mode: int) -> None:
    """Write ``dest`` atomically, never replacing an existing file (a hard link fails if it exists)."""
    tmp = temp_path(dest)
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, dest)
        except FileExistsError:
            raise OutputExistsError(f"{dest}: already exists; keygen never replaces a key file") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if dest.exists():  # a file system without hard links: check, then rename
                raise OutputExistsError(f"{dest}: already exists; keygen never replaces a key file") from None
            os.rename(tmp, dest)
    except OSError as exc:
        raise OutputError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_keypair(path: str | os.PathLike[str], seed: bytes | None = None) -> tuple[Path, Path, str]:
    """Write a new Ed25519 key: the private key to ``path`` (PKCS#8 PEM, mode 0600) and the public key
    to ``path.pub``; neither may exist. Returns both paths and the public key's sha256."""
    path = Path(path)
    if path.name.endswith(".pub"):
        raise ConfigError(f"{path}: KEYFILE names the private key, written as is; the public key goes to "
                          "KEYFILE.pub, so do not end KEYFILE in .pub")
    pub_path = path.with_name(path.name + ".pub")
    hint = "keygen never replaces a key file; choose another name"
    for p in (path, pub_path):
        check_destination(p, overwrite=False, hint=hint)
    seed = secrets.token_bytes(ed25519.SEED_BYTES) if seed is None else seed
    public = ed25519.public_key(seed)
    _write_new(path, private_key_pem(seed), 0o600)
    try:
        _write_new(pub_path, public_key_pem(public), 0o644)
    except BaseException:
        path.unlink()
        raise
    return path, pub_path, key_sha256(public)


# --------------------------------------------------------------------------- the signature entry

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _entry(value: str) -> bytes:
    body = _length_delimited(1, SIGNATURE_KEY.encode()) + _length_delimited(2, value.encode())
    return _length_delimited(_METADATA_FIELD, body)


def _entry_fields(blob: bytes) -> tuple[str | None, bytes | None]:
    """(key, raw value) of one top-level field-14 encoding; key None if it is not a string entry."""
    ((_, wt, body),) = list(_fields(memoryview(blob)))
    if wt != 2 or isinstance(body, int):
        return None, None
    key: str | None = None
    value: bytes | None = None
    for n2, wt2, v2 in _fields(body):
        if wt2 != 2 or isinstance(v2, int):
            continue
        if n2 == 1:
            key = bytes(v2).decode("utf-8", errors="replace")
        elif n2 == 2:
            value = bytes(v2)
    return key, value


def _corrupt(name: str, exc: Exception) -> BundleError:
    return BundleError(f"{name}: not a readable ONNX model, truncated or corrupt ({exc})")


def _locate(data: bytes, name: str) -> tuple[int, dict[str, str]] | None:
    """(offset of the signature entry, its checked JSON), or None if the file has no signature entry.

    Raises BundleError for two entries, an entry that is not the last field, or an unreadable one."""
    try:
        found = []
        for num, start, end in top_level_fields(data):
            if num == _METADATA_FIELD:
                key, value = _entry_fields(data[start:end])
                if key == SIGNATURE_KEY:
                    found.append((start, end, value))
    except ValueError as exc:  # ProtobufError, or any other malformation of the fields
        raise _corrupt(name, exc) from exc
    if not found:
        return None
    if len(found) > 1:
        raise BundleError(f"{name}: {len(found)} signature entries ({SIGNATURE_KEY!r}); a signed bundle has "
                          "exactly one")
    start, end, value = found[0]
    if end != len(data):
        raise BundleError(f"{name}: the signature entry is not the last field of the file; bytes after it "
                          "would not be covered")
    return start, _parse_value(value, data[start:end], name)


def _parse_value(value: bytes | None, blob: bytes, name: str) -> dict[str, str]:
    def bad(why: str) -> BundleError:
        return BundleError(f"{name}: unreadable signature entry ({why})")

    if value is None or len(value) > _MAX_ENTRY_VALUE:
        raise bad(f"no value, or over {_MAX_ENTRY_VALUE} bytes")
    try:
        text = value.decode("utf-8")
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(doc, dict) or sorted(doc) != ["algorithm", "public_key_sha256", "signature"]:
        raise bad("expected exactly the keys algorithm, public_key_sha256, signature")
    if doc["algorithm"] != ALGORITHM:
        raise bad(f"algorithm is not {ALGORITHM!r}")
    if not isinstance(doc["public_key_sha256"], str) or not _HEX64.fullmatch(doc["public_key_sha256"]):
        raise bad("public_key_sha256 is not 64 lowercase hex digits")
    sig = doc["signature"]
    try:
        raw = base64.b64decode(sig, validate=True) if isinstance(sig, str) and sig.isascii() else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != ed25519.SIGNATURE_BYTES or base64.b64encode(raw).decode() != sig:
        raise bad(f"signature is not the base64 of {ed25519.SIGNATURE_BYTES} bytes")
    if text != json.dumps(doc, sort_keys=True, separators=(",", ":")) or blob != _entry(text):
        raise bad("not canonically encoded")  # so E is a function of the key and B: the file is not malleable
    return doc


def sign_bundle(data: bytes, seed: bytes) -> bytes:
    """``data`` + the signature entry: Ed25519 over every byte of ``data`` (deterministic)."""
    if _locate(data, "bundle") is not None:
        raise BundleError("the bundle is already signed")
    public = ed25519.public_key(seed)
    doc = {"algorithm": ALGORITHM, "public_key_sha256": key_sha256(public),
           "signature": base64.b64encode(ed25519.sign(seed, data)).decode("ascii")}
    return data + _entry(json.dumps(doc, sort_keys=True, separators=(",", ":")))


def find_signature(data: bytes, name: str) -> SignatureInfo | None:
    """The signature entry as found, not checked (no trusted key): None if unsigned; a malformed
    entry is described (``problem``), not refused."""
    try:
        found = _locate(data, name)
    except BundleError as exc:
        if isinstance(exc.__cause__, ProtobufError):
            return None  # a corrupt file: the scan that follows refuses it
        return SignatureInfo(problem=str(exc).removeprefix(f"{name}: "))
    if found is None:
        return None
    doc = found[1]
    return SignatureInfo(doc["algorithm"], doc["public_key_sha256"], verified=False)


def verify_signature(data: bytes, trusted_key: bytes, name: str) -> SignatureInfo:
    """Require a valid signature by ``trusted_key`` (raw 32 bytes) over every byte before the entry."""
    if not ed25519.valid_public_key(trusted_key):
        raise ConfigError("the trusted key is not a usable Ed25519 public key")
    trusted = key_sha256(trusted_key)
    found = _locate(data, name)
    if found is None:
        raise BundleError(f"{name}: not signed (no {SIGNATURE_KEY!r} entry), and a trusted key was given")
    start, doc = found
    if doc["public_key_sha256"] != trusted:
        raise BundleError(f"{name}: signed by another key (sha256 {doc['public_key_sha256'][:16]}…), not the "
                          f"trusted key (sha256 {trusted[:16]}…)")
    if not ed25519.verify(trusted_key, memoryview(data)[:start], base64.b64decode(doc["signature"])):
        raise BundleError(f"{name}: bad signature: the Ed25519 signature does not match the bundle's bytes "
                          "(changed after signing)")
    return SignatureInfo(ALGORITHM, trusted, verified=True)


# --------------------------------------------------------------------------- pinning by hash

def normalize_sha256(value: str) -> str:
    """An --expect-sha256 value in lowercase, or ConfigError unless it is 64 hex digits."""
    text = value.strip().lower()
    if not _HEX64.fullmatch(text):
        shown = value if len(value) <= 80 and value.isprintable() else f"{len(value)} characters"
        raise ConfigError(f"--expect-sha256 {shown!r} is not a sha256 (64 hex digits)")
    return text


def check_sha256(data: bytes, expected: str, name: str) -> str:
    """The bytes' sha256, or BundleError unless it equals ``expected`` (normalized first)."""
    want = normalize_sha256(expected)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise BundleError(f"{name}: sha256 {got} is not the expected {want} (--expect-sha256); "
                          "refusing the bundle")
    return got


def resolve_trusted_key(option: str | os.PathLike[str] | None) -> bytes | None:
    """``--trusted-key``, else ``$SCORE_TRUSTED_KEY``, else None: the raw public key read from that file."""
    if option is not None:
        return read_public_key(option)
    env = os.environ.get("SCORE_TRUSTED_KEY")
    if not env:
        return None
    try:
        return read_public_key(env)
    except (InputError, ConfigError) as exc:
        raise type(exc)(f"{exc} ($SCORE_TRUSTED_KEY)") from exc
