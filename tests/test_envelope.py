"""Envelopes: the documented test vector, and every way an envelope must be refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from client_kit.engine.envelope import EnvelopeError, key_id, open_envelope, read_header, seal

SIGN = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
BOX = X25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def counter_random():
    stream, pos = bytes(range(64, 64 + 44)), [0]

    def take(n):
        out = stream[pos[0]:pos[0] + n]
        pos[0] += n
        return out
    return take


def vector() -> bytes:
    return seal("同步测试".encode(), sender="dev-test", signing_key=SIGN,
                recipient_key=BOX.public_key(), purpose="push", counter=7,
                now_ms=1764000000000, random=counter_random())


def open_it(data, purposes=("push",), box=BOX, sign=SIGN):
    return open_envelope(data, purposes=purposes,
                         recipient_keys={key_id(box.public_key()): box},
                         sender_key=lambda s, k: sign.public_key()
                         if (s, k) == ("dev-test", key_id(sign.public_key())) else None)


def test_the_documented_test_vector_is_what_seal_produces_and_it_opens():
    spec = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text("utf-8")
    block = spec.split("### Test vector", 1)[1].split("```", 2)[1]
    documented = bytes.fromhex(re.sub(r"\s", "", block))
    assert documented == vector()
    opened = open_it(documented)
    assert opened.payload.decode() == "同步测试"
    assert opened.header["counter"] == 7 and opened.sender == "dev-test"


def test_the_payload_is_not_visible_in_the_envelope():
    data = seal("身份证号522731197503090115".encode(), sender="d", signing_key=SIGN,
                recipient_key=BOX.public_key(), purpose="push", counter=1, now_ms=1,
                random=os.urandom)
    assert "522731197503090115".encode() not in data


@pytest.mark.parametrize("where", ["header", "ciphertext", "signature"])
def test_a_flipped_byte_anywhere_is_refused(where):
    data = bytearray(vector())
    header_len = int.from_bytes(data[4:8], "big")
    index = {"header": 8 + 3, "ciphertext": 8 + header_len + 2, "signature": len(data) - 5}[where]
    data[index] ^= 0x01
    with pytest.raises(EnvelopeError) as refused:
        open_it(bytes(data))
    assert refused.value.code in ("bad_signature", "bad_envelope")


def test_an_envelope_for_someone_else_is_refused():
    other = X25519PrivateKey.generate()
    with pytest.raises(EnvelopeError) as refused:
        open_it(vector(), box=other)
    assert refused.value.code == "wrong_recipient"


def test_an_unknown_sender_key_is_refused():
    with pytest.raises(EnvelopeError) as refused:
        open_it(vector(), sign=Ed25519PrivateKey.generate())
    assert refused.value.code == "unknown_sender"


def test_a_signature_by_another_key_under_the_right_name_is_refused():
    forged = seal(b"x", sender="dev-test", signing_key=Ed25519PrivateKey.generate(),
                  recipient_key=BOX.public_key(), purpose="push", counter=1, now_ms=1,
                  random=os.urandom)
    header_len = int.from_bytes(forged[4:8], "big")
    # Claim the real key id in the header: the signature then does not verify.
    body = forged[:-64].replace(read_header(forged)["sender_key"].encode(),
                                key_id(SIGN.public_key()).encode())
    assert len(body) == len(forged) - 64 and header_len
    with pytest.raises(EnvelopeError) as refused:
        open_it(body + forged[-64:])
    assert refused.value.code == "bad_signature"


def test_an_envelope_for_another_purpose_is_refused():
    with pytest.raises(EnvelopeError) as refused:
        open_it(vector(), purposes=("pull",))
    assert refused.value.code == "wrong_purpose"


@pytest.mark.parametrize("data", [b"", b"CSE1", b"XXXX" + bytes(100), vector()[:40]])
def test_garbage_is_refused(data):
    with pytest.raises(EnvelopeError) as refused:
        open_it(data)
    assert refused.value.code == "bad_envelope"
