"""Ed25519 (RFC 8032, section 5.1) in pure Python: key generation from a seed, signing, strict verification.

The scorer verifies signed bundles with it, and ``signalpack export --sign-key`` signs with
it, so signing adds no dependency to either install. It follows the RFC's reference
algorithms (extended twisted-Edwards coordinates, SHA-512 from ``hashlib``) and is tested
against the RFC's section 7.1 vectors and against OpenSSL.

Verification is strict, and cofactorless (``[S]B == R + [k]A``, as OpenSSL and libsodium
check):

- the signature is exactly 64 bytes and its scalar S is canonical (S < L);
- R and A are canonical point encodings (y < p; no "negative zero" x) of points on the curve;
- A is not of small order (a small-order public key would accept forgeries).

Python integers are not constant-time: signing here is meant for a trainer's own machine,
not for a service that signs attacker-chosen messages under timing observation.
"""

from __future__ import annotations

import hashlib

__all__ = ["PUBLIC_BYTES", "SEED_BYTES", "SIGNATURE_BYTES", "public_key", "sign", "valid_public_key", "verify"]

SEED_BYTES = 32
PUBLIC_BYTES = 32
SIGNATURE_BYTES = 64

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

# Points are (X, Y, Z, T) in extended coordinates: x = X/Z, y = Y/Z, x*y = T/Z.
_Point = tuple[int, int, int, int]
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _double(p: _Point) -> _Point:
    a = p[0] * p[0] % _P
    b = p[1] * p[1] % _P
    c = 2 * p[2] * p[2] % _P
    h = a + b
    e = h - (p[0] + p[1]) ** 2
    g = a - b
    f = c + g
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _mul(s: int, p: _Point) -> _Point:
    q = _IDENTITY
    for bit in bin(s)[2:] if s > 0 else "":
        q = _double(q)
        if bit == "1":
            q = _add(q, p)
    return q


def _equal(p: _Point, q: _Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    """x for a y on the curve with the given sign bit, or None (RFC 8032 5.1.3, strict)."""
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0  # x = 0 has no negative form: "-0" is non-canonical
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None  # not on the curve
    if x & 1 != sign:
        x = _P - x
    return x


def _base() -> _Point:
    y = 4 * pow(5, _P - 2, _P) % _P
    x = _recover_x(y, 0)
    assert x is not None
    return x, y, 1, x * y % _P


_BASE = _base()


def _encode(p: _Point) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(s: bytes) -> _Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return x, y, 1, x * y % _P


def _sha512_int(*parts: bytes | memoryview) -> int:
    h = hashlib.sha512()
    for part in parts:
        h.update(part)
    return int.from_bytes(h.digest(), "little")


def _expand(seed: bytes) -> tuple[int, bytes]:
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        raise ValueError(f"an Ed25519 private key is a {SEED_BYTES}-byte seed")
    h = hashlib.sha512(bytes(seed)).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte seed (the private key)."""
    a, _ = _expand(seed)
    return _encode(_mul(a, _BASE))


def sign(seed: bytes, message: bytes | memoryview) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` (deterministic: same key and message, same bytes)."""
    a, prefix = _expand(seed)
    pub = _encode(_mul(a, _BASE))
    r = _sha512_int(prefix, message) % _L
    big_r = _encode(_mul(r, _BASE))
    k = _sha512_int(big_r, pub, message) % _L
    s = (r + k * a) % _L
    return big_r + s.to_bytes(32, "little")


def valid_public_key(public: bytes) -> bool:
    """True if ``public`` is a canonical encoding of a curve point of large order (a usable public key)."""
    a = _decode(bytes(public)) if len(public) == PUBLIC_BYTES else None
    return a is not None and not _equal(_mul(8, a), _IDENTITY)


def verify(public: bytes, message: bytes | memoryview, signature: bytes) -> bool:
    """True only if ``signature`` is a valid, canonical Ed25519 signature of ``message`` by ``public``."""
    if len(public) != PUBLIC_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    a = _decode(bytes(public))
    r = _decode(bytes(signature[:32]))
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    if _equal(_mul(8, a), _IDENTITY):
        return False
    k = _sha512_int(bytes(signature[:32]), bytes(public), message) % _L
    return _equal(_mul(s, _BASE), _add(r, _mul(k, a)))
