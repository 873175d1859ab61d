"""Pulled entries carry one version pair when a single write made them, and lose nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client_kit.engine.changes import (DELETED, PulledEntry, compact_json, compact_versions,
                                       compact_versions_json, expand_versions, versions_json)
from client_kit.engine.errors import ProtocolError
from client_kit.engine.protocol import decode_pull_page, encode_pull_page, pack

NAMES = st.sampled_from(["name", "sex", "phone", "note", "status", DELETED])
VERSION = st.tuples(st.integers(1, 2**62), st.sampled_from(["dev-a", "dev-b", "server"]))


@st.composite
def entries(draw):  # type: ignore[no-untyped-def]
    names = draw(st.sets(NAMES.filter(lambda n: n != DELETED), max_size=5))
    fields = {n: draw(st.one_of(st.none(), st.text(max_size=5), st.integers())) for n in names}
    deleted = draw(st.sampled_from([None, True, False]))
    one = draw(VERSION)
    uniform = draw(st.booleans())
    keys = draw(st.sets(NAMES, max_size=6)) if not uniform else (
        set(names) | ({DELETED} if deleted is not None else set()))
    versions = {k: (one if uniform else draw(VERSION)) for k in keys}
    return PulledEntry(7, "person", "p1", "522731100201", fields, versions, deleted,
                       tuple(sorted(draw(st.sets(NAMES, max_size=2)))))


@given(entries(), st.booleans())
def test_an_entry_survives_the_wire_in_either_form(entry, compact) -> None:  # type: ignore[no-untyped-def]
    page = decode_pull_page(encode_pull_page([entry], 7, False, ["522731100201"],
                                             compact=compact))
    assert page.entries == [entry]


def test_one_write_travels_as_one_pair_and_anything_else_as_an_object() -> None:
    v = (5 << 16, "dev-a")
    assert compact_versions({"name": 1, "sex": 2}, None, {"name": v, "sex": v}) == [5 << 16,
                                                                                   "dev-a"]
    # A tombstone change with its own version, in the same write.
    assert compact_versions({}, True, {DELETED: v}) == [5 << 16, "dev-a"]
    # Two writes, a field without a version, a tombstone without one: objects.
    assert isinstance(compact_versions({"name": 1, "sex": 2}, None,
                                       {"name": v, "sex": (6 << 16, "dev-a")}), dict)
    assert isinstance(compact_versions({"name": 1, "sex": 2}, None, {"name": v}), dict)
    assert isinstance(compact_versions({"name": 1}, False, {"name": v}), dict)
    assert expand_versions([5 << 16, "dev-a"], {"name": 1}, False) == {"name": v, DELETED: v}


def test_a_page_with_a_malformed_version_is_refused_as_a_protocol_error() -> None:
    for versions in ("soon", [1], {"name": [1]}, 5):
        body = pack({"entries": [[1, "person", "p1", "522731100201", {"name": "x"}, versions,
                                  None, []]], "cursor": 1, "more": False, "villages": []})
        with pytest.raises(ProtocolError):
            decode_pull_page(body)


def test_the_compact_form_is_smaller_on_the_wire() -> None:
    v = (1_700_000_000_000 << 16, "dev-7f3a9c2b1e04")
    entry = PulledEntry(1, "attendance", "a1", "522731100201",
                        {n: "x" for n in ("post_id", "person_id", "day", "status", "hours")},
                        {n: v for n in ("post_id", "person_id", "day", "status", "hours")})
    objects = json.dumps(entry.to_wire(False))
    pair = json.dumps(entry.to_wire(True))
    assert len(pair) < len(objects) / 2


@given(st.dictionaries(st.one_of(NAMES, st.text(max_size=4)),
                       st.one_of(VERSION, st.lists(st.integers(), max_size=3), st.none()),
                       max_size=6))
def test_versions_json_writes_exactly_what_the_json_encoder_writes(versions) -> None:  # type: ignore[no-untyped-def]
    assert versions_json(versions) == json.dumps(versions, ensure_ascii=False,
                                                 separators=(",", ":"))


@given(entries(), st.booleans())
def test_compact_versions_text_is_the_encoded_compact_versions(entry, as_list) -> None:  # type: ignore[no-untyped-def]
    names = list(entry.fields) * 2 if as_list else entry.fields  # a list may repeat names
    assert compact_versions_json(names, entry.deleted, entry.versions) == compact_json(
        compact_versions(names, entry.deleted, entry.versions))


@given(st.lists(st.sampled_from(["name", "sex", "phone", "note", "名字", "a b", 'q"'])),
       VERSION)
def test_versions_sharing_one_write_are_written_as_the_encoder_writes_them(names, one) -> None:  # type: ignore[no-untyped-def]
    versions = dict.fromkeys(names, one)
    assert versions_json(versions) == json.dumps(versions, ensure_ascii=False,
                                                 separators=(",", ":"))


@given(entries(), st.booleans())
def test_a_new_rows_versions_text_is_the_same_by_either_path(entry, with_deleted_field) -> None:  # type: ignore[no-untyped-def]
    from client_kit.store import _entry_versions, _entry_versions_text, _versions_text

    if with_deleted_field:  # a malformed entry naming the tombstone as a field
        entry.fields[DELETED] = False
    assert _entry_versions_text(entry) == _versions_text(_entry_versions(entry))


ROW_VERSIONS = st.dictionaries(
    st.one_of(NAMES, st.sampled_from(["village_code", "名字", "a b", 'q"'])),
    st.one_of(VERSION, st.none()), max_size=6)


@given(ROW_VERSIONS, VERSION, st.booleans())
def test_row_versions_read_back_as_written(versions, one, shared) -> None:  # type: ignore[no-untyped-def]
    from client_kit.engine.changes import row_versions_from_json, row_versions_json

    if shared:
        versions = dict.fromkeys(versions, one)
    text = row_versions_json(versions)
    assert row_versions_from_json(text) == versions
    assert isinstance(json.loads(text), dict)
    if shared and len(versions) > 1 and all(n.isidentifier() for n in versions):
        assert text.startswith('{"@":') and len(text) < len(versions_json(versions))
    else:
        assert text == versions_json(versions)


def test_rows_written_before_the_shared_form_read_as_before() -> None:
    from client_kit.engine.changes import row_versions_from_json

    old = '{"name":[327680,"dev-a"],"sex":[327680,"dev-a"],"_deleted":[393216,"server"]}'
    assert row_versions_from_json(old) == {"name": (5 << 16, "dev-a"), "sex": (5 << 16, "dev-a"),
                                           DELETED: (6 << 16, "server")}
    shared = row_versions_from_json('{"@":[327680,"dev-a"],"name":0,"sex":0}')
    assert shared == {"name": (5 << 16, "dev-a"), "sex": (5 << 16, "dev-a")}
    assert shared["name"] is shared["sex"]  # written again in the shared form


@given(entries(), st.booleans())
def test_a_new_rows_versions_text_from_the_wire_is_the_same_by_either_path(entry, compact) -> None:  # type: ignore[no-untyped-def]
    from client_kit.store import _entry_versions, _entry_versions_text, _versions_text

    pulled = decode_pull_page(encode_pull_page([entry], 7, False, ["522731100201"],
                                               compact=compact)).entries[0]
    assert (pulled.one_version is not None) == (compact and isinstance(
        compact_versions(entry.fields, entry.deleted, entry.versions), list))
    assert _entry_versions_text(pulled) == _versions_text(_entry_versions(pulled))
