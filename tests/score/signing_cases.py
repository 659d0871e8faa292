"""Helpers for signed-bundle tests (tests/score/test_signature.py and the bad-input table's
"signing and pinning" rows): key pairs, signed copies of a bundle, and crafted variants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from signalpack.score import ed25519
from signalpack.score.signature import read_private_key, sign_bundle, write_keypair


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    seed: bytes
    raw_public: bytes


def keys(folder: Path, name: str = "key") -> Keys:
    """The key pair ``folder/name`` and ``folder/name.pub``, created by ``signalpack keygen``'s code on first use."""
    private = folder / name
    if not private.exists():
        write_keypair(private)
    seed = read_private_key(private)
    return Keys(private, folder / f"{name}.pub", seed, ed25519.public_key(seed))


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (tag, varint length, payload)."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def metadata_entry(key: str, value: str) -> bytes:
    """A top-level ModelProto.metadata_props entry (field 14), as raw bytes to append to a model."""
    return field(14, field(1, key.encode()) + field(2, value.encode()))


def signed_copy(bundle: Path, folder: Path, name: str = "signed.onnx", key: str = "key") -> Path:
    """``bundle`` signed with ``folder/key`` (created if needed), written to ``folder/name``."""
    out = folder / name
    out.write_bytes(sign_bundle(bundle.read_bytes(), keys(folder, key).seed))
    return out


def variant(bundle: Path, folder: Path, name: str, how: str) -> Path:
    """A signed copy of ``bundle`` changed after signing: ``flip`` (one byte of the graph), ``twice`` (the
    signature entry appended again), ``not_last`` (another metadata entry after the signature)."""
    unsigned = bundle.read_bytes()
    signed = sign_bundle(unsigned, keys(folder).seed)
    entry = signed[len(unsigned):]
    if how == "flip":
        data = bytearray(signed)
        data[len(unsigned) // 2] ^= 0x01
        blob = bytes(data)
    elif how == "twice":
        blob = signed + entry
    elif how == "not_last":
        blob = signed + metadata_entry("note", "added after signing")
    else:
        raise ValueError(how)
    out = folder / name
    out.write_bytes(blob)
    return out


def corrupt_public_key(folder: Path, name: str = "broken.pub") -> Path:
    text = keys(folder).public.read_text().splitlines()
    text[1] = text[1][:10] + "!!" + text[1][12:]
    out = folder / name
    out.write_text("\n".join(text) + "\n")
    return out
