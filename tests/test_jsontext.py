"""The engine's JSON encoders write exactly what the standard library's encoder writes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from client_kit.engine.jsontext import canonical_json, compact_json, json_string

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.text(), st.sampled_from(["张三", "今天下雨，提前收工", 'a"b\\c', "\x00\n"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=20)


@given(VALUES)
def test_compact_json_is_the_standard_compact_encoding(value) -> None:  # type: ignore[no-untyped-def]
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(VALUES)
def test_canonical_json_sorts_keys_as_the_standard_encoder_does(value) -> None:  # type: ignore[no-untyped-def]
    assert canonical_json(value) == json.dumps(value, ensure_ascii=False, sort_keys=True,
                                               separators=(",", ":"))


@given(st.text())
def test_a_string_alone_is_encoded_as_json_string_encodes_it(text: str) -> None:
    assert compact_json(text) == json_string(text) == json.dumps(text, ensure_ascii=False)


def test_what_json_cannot_hold_is_refused_as_by_the_standard_encoder() -> None:
    for bad in ({"when": object()}, [b"bytes"], {1j: 1}):
        for encode in (compact_json, canonical_json):
            try:
                encode(bad)
            except TypeError:
                continue
            raise AssertionError(f"{bad!r} was encoded")
