"""Row ids: UUIDv7 for new rows, deterministic name-based ids for natural-key facts."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_kit.engine.ids import natural_id, uuid7

NOW = 1_772_323_200_000


def test_uuid7_is_an_rfc_9562_version_7_uuid():
    value = uuid.UUID(uuid7(NOW, os.urandom(10)))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_carries_the_milliseconds_in_its_first_48_bits():
    value = uuid.UUID(uuid7(NOW, bytes(10)))
    assert value.int >> 80 == NOW


def test_uuid7_is_a_lower_case_canonical_string():
    text = uuid7(NOW, b"\xff" * 10)
    assert text == str(uuid.UUID(text)) and text == text.lower() and len(text) == 36


@given(st.lists(st.integers(min_value=0, max_value=(1 << 48) - 1), min_size=2, max_size=50,
                unique=True),
       st.lists(st.binary(min_size=10, max_size=10), min_size=50, max_size=50))
def test_uuid7_sorts_by_time_whatever_the_random_part(times, randoms):
    ids = [(t, uuid7(t, r)) for t, r in zip(times, randoms)]
    assert [t for t, _ in sorted(ids, key=lambda pair: pair[1])] == sorted(times)


@given(st.binary(min_size=10, max_size=10))
def test_uuid7_keeps_version_and_variant_for_any_random_bytes(random_bytes):
    value = uuid.UUID(uuid7(NOW, random_bytes))
    assert value.version == 7 and value.variant == uuid.RFC_4122


def test_uuid7_ids_made_in_one_millisecond_differ():
    ids = {uuid7(NOW, os.urandom(10)) for _ in range(1000)}
    assert len(ids) == 1000


def test_uuid7_refuses_too_few_random_bytes():
    with pytest.raises(ValueError):
        uuid7(NOW, bytes(9))


def test_a_natural_id_is_the_same_every_time_and_everywhere():
    first = natural_id("attendance", "0196f3b0-0000-7000-8000-000000000001", "2026-03-02")
    assert first == natural_id("attendance", "0196f3b0-0000-7000-8000-000000000001",
                               "2026-03-02")
    # Pinned: a device and the server must derive this id forever.
    assert first == str(uuid.uuid5(uuid.UUID("8f6b2c1e-3d4a-5b6c-9d7e-0a1b2c3d4e5f"),
                                   "attendance\x1f0196f3b0-0000-7000-8000-000000000001"
                                   "\x1f2026-03-02"))
    assert uuid.UUID(first).version == 5


def test_a_natural_id_depends_on_every_part_of_the_key_and_the_record_type():
    base = natural_id("signin", "s", "p", "2026-03-02")
    assert base != natural_id("signin", "s", "p", "2026-03-03")
    assert base != natural_id("signin", "s", "q", "2026-03-02")
    assert base != natural_id("attendance", "s", "p", "2026-03-02")
    assert natural_id("signin", "ab", "c") != natural_id("signin", "a", "bc")


@given(st.text(min_size=1), st.lists(st.text(), max_size=3))
def test_natural_ids_are_deterministic_uuids(record_type, key):
    assert natural_id(record_type, *key) == natural_id(record_type, *key)
    assert uuid.UUID(natural_id(record_type, *key)).version == 5


@given(st.text(max_size=20), st.lists(st.one_of(st.text(max_size=40), st.integers()), max_size=4))
def test_natural_id_is_exactly_uuid5_of_the_key(record_type, key) -> None:  # type: ignore[no-untyped-def]
    from client_kit.engine.ids import NATURAL_NAMESPACE
    name = "\x1f".join([record_type, *(str(part) for part in key)])
    assert natural_id(record_type, *key) == str(uuid.uuid5(NATURAL_NAMESPACE, name))
