"""The engine's JSON: the standard library's text for every value our records hold, strict
parsing of what arrives, and the two documented differences."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_kit.engine.jsontext import (canonical_json, canonical_json_bytes, compact_json,
                                        json_string, load_json, stdlib_canonical_json)

#: Floats as records hold them: finite, and not so small that they are written with an
#: exponent (no validated field holds one: amounts have at most two decimals).
RECORD_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: f == 0 or abs(f) >= 1e-4)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), RECORD_FLOATS,
                    st.text(), st.sampled_from(["张三", "今天下雨，提前收工", 'a"b\\c', "\x00\n",
                                                "\u2028\x7f\ufeff😀"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=20)


@given(VALUES)
def test_compact_json_is_the_standard_compact_encoding(value) -> None:  # type: ignore[no-untyped-def]
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(VALUES)
def test_canonical_json_sorts_keys_as_the_standard_encoder_does(value) -> None:  # type: ignore[no-untyped-def]
    expected = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert canonical_json(value) == stdlib_canonical_json(value) == expected
    assert canonical_json_bytes(value) == expected.encode()


@given(st.text())
def test_a_string_alone_is_encoded_as_json_string_encodes_it(text: str) -> None:
    assert compact_json(text) == json_string(text) == json.dumps(text, ensure_ascii=False)


@given(VALUES)
def test_what_is_written_reads_back_the_same(value) -> None:  # type: ignore[no-untyped-def]
    assert load_json(compact_json(value)) == json.loads(json.dumps(value))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_reads_back_exactly(number: float) -> None:
    text = compact_json(number)
    assert load_json(text) == number and float(json.loads(text)) == number


def test_the_two_documented_differences_from_the_standard_library() -> None:
    assert compact_json(1e-7) == "1e-7" and json.dumps(1e-7) == "1e-07"
    assert compact_json([math.nan, math.inf, -math.inf]) == "[null,null,null]"


def test_what_orjson_refuses_is_written_by_the_standard_library() -> None:
    huge = {"n": 2**70, "list": [-(2**65)]}
    assert compact_json(huge) == json.dumps(huge, separators=(",", ":"))
    assert compact_json({1: "a", "b": 2}) == '{"1":"a","b":2}'
    assert canonical_json({"b": 2**70, "a": 1}) == '{"a":1,"b":%d}' % 2**70


def test_what_json_cannot_hold_is_refused_as_by_the_standard_encoder() -> None:
    for bad in ({"when": object()}, [b"bytes"], {1j: 1}, [dt.date(2026, 3, 1)]):
        for encode in (compact_json, canonical_json):
            with pytest.raises(TypeError):
                encode(bad)


@pytest.mark.parametrize("text", [b'{"a": NaN}', b"[Infinity]", b'"\xff"', b"[1,]", b"",
                                  b'{"a":1', '"\\ud800"'.encode()])
def test_parsing_refuses_what_is_not_strict_json(text: bytes) -> None:
    with pytest.raises(ValueError):
        load_json(text)


def test_parsing_takes_text_and_utf8_bytes_alike() -> None:
    assert load_json('{"名":"王大山","n":[1,2.5,null,true]}') == load_json(
        '{"名":"王大山","n":[1,2.5,null,true]}'.encode()) == {"名": "王大山",
                                                           "n": [1, 2.5, None, True]}


def test_an_integer_beyond_64_bits_never_reads_back_as_an_integer() -> None:
    """orjson reads it as a float, so every integer check (sequences, clocks, counts) refuses
    it rather than taking a rounded number."""
    value = load_json(b"[" + str(2**70).encode() + b"]")[0]
    assert not isinstance(value, int)
