"""Split a signed signalpack bundle into what its signature covers and the signature itself.

    python3 split_signature.py bundle.onnx        # writes covered.bin and sig.bin, prints the key sha256
    openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in covered.bin -sigfile sig.bin

Standard library only: it walks the file's top-level protobuf fields, takes the last one (the
signature entry, ModelProto.metadata_props = field 14), and writes every byte before it
(covered.bin) and the base64-decoded Ed25519 signature (sig.bin). See docs/bundle-format.md.
"""

import base64
import json
import sys

with open(sys.argv[1], "rb") as f:
    data = f.read()


def varint(pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def fields(buf_start, buf_end):
    """(field number, start, value start, end) of each field in data[buf_start:buf_end]."""
    out, pos = [], buf_start
    while pos < buf_end:
        start = pos
        key, pos = varint(pos)
        value_start = pos
        if key & 7 == 0:
            _, pos = varint(pos)
        elif key & 7 == 2:
            n, value_start = varint(pos)
            pos = value_start + n
        else:
            pos += {1: 8, 5: 4}[key & 7]
        out.append((key >> 3, start, value_start, pos))
    return out


number, start, value_start, end = fields(0, len(data))[-1]
entry = {num: data[a:b] for num, _, a, b in fields(value_start, end)}
if number != 14 or entry.get(1) != b"signalpack.signature":
    sys.exit("not signed: the last field is not a signalpack.signature metadata entry")
doc = json.loads(entry[2])
if doc["algorithm"] != "ed25519":
    sys.exit(f"unknown algorithm {doc['algorithm']!r}")
with open("covered.bin", "wb") as f:
    f.write(data[:start])
with open("sig.bin", "wb") as f:
    f.write(base64.b64decode(doc["signature"]))
print(f"signed by the key with sha256 {doc['public_key_sha256']}; covered.bin: {start} bytes")
