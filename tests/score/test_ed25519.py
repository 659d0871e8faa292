"""score/ed25519.py: RFC 8032 section 7.1 vectors, OpenSSL agreement both ways, strict verification."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalpack.score import ed25519
from signalpack.score.signature import private_key_pem, public_key_pem, read_private_key, read_public_key

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")

L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19

# RFC 8032 section 7.1, copied digit for digit: (name, secret key, public key, message, signature).
_TEST_1024_MESSAGE = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1"
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a"
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10"
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d"
    "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b"
    "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b"
    "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d"
    "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7"
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09"
    "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161"
    "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca"
    "c60c905c15fc910840b94c00a0b9d0"
)
RFC8032_VECTORS = [
    ("TEST 1",
     "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "",
     ("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
      "d25bf5f0595bbe24655141438e7a100b")),
    ("TEST 2",
     "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "72",
     ("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
      "387b2eaeb4302aeeb00d291612bb0c00")),
    ("TEST 3",
     "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
     "af82",
     ("6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
      "4a7c15e9716ed28dc027beceea1ec40a")),
    ("TEST 1024",
     "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     _TEST_1024_MESSAGE,
     ("0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b"
      "5e8fcd4f681e30a6ac00a9704a188a03")),
    ("TEST SHA(abc)",
     "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     ("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
      "454d4423643ce80e2a9ac94fa54ca49f"),
     ("dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e030"
      "3dca179c138ac17ad9bef1177331a704")),
]


@pytest.mark.parametrize("name, secret, public, message, signature", RFC8032_VECTORS, ids=[v[0] for v in RFC8032_VECTORS])
def test_rfc8032_vectors(name, secret, public, message, signature):
    seed, pub, msg, sig = (bytes.fromhex(x) for x in (secret, public, message, signature))
    assert ed25519.public_key(seed) == pub
    assert ed25519.sign(seed, msg) == sig
    assert ed25519.verify(pub, msg, sig)
    assert not ed25519.verify(pub, msg + b"\x00", sig)
    assert not ed25519.verify(pub, msg, sig[:-1] + bytes([sig[-1] ^ 0x01]))


def test_the_1024_vector_message_is_the_rfcs():
    """The long message was copied, not derived: its length and the RFC's SHA(abc) message check the copy."""
    assert len(bytes.fromhex(_TEST_1024_MESSAGE)) == 1023
    assert RFC8032_VECTORS[4][3] == hashlib.sha512(b"abc").hexdigest()


# ----------------------------------------------------------------------------- OpenSSL, both ways

def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, timeout=60, check=False)


MESSAGES = [b"\x00", b"x",  # openssl pkeyutl cannot read an empty message (RFC TEST 1 covers it)
            b"signalpack" * 7, os.urandom(1000), os.urandom(200_000)]


@needs_openssl
@pytest.mark.parametrize("size_index", range(len(MESSAGES)))
def test_openssl_signatures_verify_here_and_ours_verify_in_openssl(tmp_path, size_index):
    message = MESSAGES[size_index]
    (tmp_path / "msg").write_bytes(message)
    # an OpenSSL key: our reader takes it, derives the same public key OpenSSL writes
    assert _openssl("genpkey", "-algorithm", "ed25519", "-out", "key.pem", cwd=tmp_path).returncode == 0
    assert _openssl("pkey", "-in", "key.pem", "-pubout", "-out", "key.pub", cwd=tmp_path).returncode == 0
    seed = read_private_key(tmp_path / "key.pem")
    public = read_public_key(tmp_path / "key.pub")
    assert ed25519.public_key(seed) == public
    # OpenSSL signs, we verify; same bytes as ours (Ed25519 is deterministic)
    r = _openssl("pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "msg", "-out", "sig.openssl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    theirs = (tmp_path / "sig.openssl").read_bytes()
    assert ed25519.verify(public, message, theirs)
    ours = ed25519.sign(seed, message)
    assert ours == theirs
    # we sign with our own key files; OpenSSL verifies, and refuses a changed message
    own_seed = os.urandom(32)
    (tmp_path / "own.pem").write_bytes(private_key_pem(own_seed))
    (tmp_path / "own.pub").write_bytes(public_key_pem(ed25519.public_key(own_seed)))
    (tmp_path / "sig.ours").write_bytes(ed25519.sign(own_seed, message))
    r = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", "own.pub", "-rawin", "-in", "msg", "-sigfile", "sig.ours",
                 cwd=tmp_path)
    assert r.returncode == 0 and b"Signature Verified Successfully" in r.stdout, (r.stdout, r.stderr)
    (tmp_path / "msg").write_bytes(message + b"!")
    r = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", "own.pub", "-rawin", "-in", "msg", "-sigfile", "sig.ours",
                 cwd=tmp_path)
    assert r.returncode != 0
    # OpenSSL derives our public key from our private key file
    r = _openssl("pkey", "-in", "own.pem", "-pubout", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == (tmp_path / "own.pub").read_bytes()


# ----------------------------------------------------------------------------- strictness

SEED = bytes.fromhex(RFC8032_VECTORS[1][1])
PUB = bytes.fromhex(RFC8032_VECTORS[1][2])
MSG = b"strict verification"
SIG = ed25519.sign(SEED, MSG)


def test_non_canonical_s_is_rejected():
    """S + L verifies under a lax check (the same point equation); strict verification refuses S >= L."""
    s = int.from_bytes(SIG[32:], "little")
    assert s < L
    malleable = SIG[:32] + (s + L).to_bytes(32, "little")
    assert not ed25519.verify(PUB, MSG, malleable)
    assert not ed25519.verify(PUB, MSG, SIG[:32] + L.to_bytes(32, "little"))
    assert not ed25519.verify(PUB, MSG, SIG[:32] + (2**256 - 1).to_bytes(32, "little"))


def _non_canonical(encoding: bytes) -> bytes:
    """The same y plus p (y < 2^255 - p = 19 only): a non-canonical encoding of the same point."""
    y = int.from_bytes(encoding, "little") & ((1 << 255) - 1)
    assert y + P < 2**255
    return ((y + P) | (encoding[31] >> 7) << 255).to_bytes(32, "little")


def test_non_canonical_point_encodings_are_rejected():
    # y = 1 (the identity, x = 0): y + p is the same point, non-canonical; "x = -0" likewise
    identity = (1).to_bytes(32, "little")
    assert ed25519._decode(identity) is not None
    assert ed25519._decode(_non_canonical(identity)) is None
    assert ed25519._decode((1 | 1 << 255).to_bytes(32, "little")) is None
    # the same non-canonical R in a signature is refused
    assert not ed25519.verify(PUB, MSG, _non_canonical(identity) + SIG[32:])


def test_points_off_the_curve_are_rejected():
    off = next(y for y in range(2, 100) if ed25519._recover_x(y, 0) is None)
    bad = off.to_bytes(32, "little")
    assert not ed25519.verify(bad, MSG, SIG)
    assert not ed25519.verify(PUB, MSG, bad + SIG[32:])
    assert not ed25519.valid_public_key(bad)


def test_small_order_public_keys_are_rejected():
    """The identity (y = 1) and the order-2 point (y = -1) as public keys: any signature would do
    for some messages, so they are refused outright."""
    for y in (1, P - 1):
        key = y.to_bytes(32, "little")
        assert not ed25519.valid_public_key(key)
        forged = key + (0).to_bytes(32, "little")  # R = A, S = 0: [0]B == R + [k]A holds for small-order A
        assert not ed25519.verify(key, MSG, forged)


def test_wrong_lengths_are_rejected():
    assert not ed25519.verify(PUB[:31], MSG, SIG)
    assert not ed25519.verify(PUB, MSG, SIG[:63])
    assert not ed25519.verify(PUB, MSG, SIG + b"\x00")
    with pytest.raises(ValueError):
        ed25519.sign(SEED[:31], MSG)


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300), bit=st.integers(0, 10_000))
def test_sign_verify_round_trip_and_any_flipped_bit_fails(seed, message, bit):
    pub = ed25519.public_key(seed)
    sig = ed25519.sign(seed, message)
    assert ed25519.verify(pub, message, sig)
    blob = bytearray(sig + message)
    i = bit % (8 * len(blob))
    blob[i // 8] ^= 1 << (i % 8)
    assert not ed25519.verify(pub, bytes(blob[64:]), bytes(blob[:64]))
