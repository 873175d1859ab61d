"""JSON text as the sync engine reads and writes it: compact, UTF-8 kept as is (not ``\\u``
escaped).

Every message, log entry, outbox change, row version and digest goes through here. The work
is done by orjson, which parses our messages three times and writes our records eight times
as fast as the standard library (decision 0007); the standard library's encoder takes what
orjson refuses, so nothing that encoded before fails now.

For every value our records and messages hold (string keys, integers within 64 bits, finite
floats), the text is exactly what ``json.dumps(value, ensure_ascii=False, separators=(",",
":"))`` writes; tests hold the two equal. Where they differ: a float under 1e-4 is written
``1e-7`` (not ``1e-07``), and a NaN or infinity as ``null`` (JSON has neither). No validated
field holds such a float, and the parser refuses NaN and infinity in what arrives.
"""

from __future__ import annotations

import json
from json import encoder as _json_encoder
from typing import Any, Callable

import orjson

#: A str as JSON text, non-ASCII kept as is (what :func:`compact_json` does for a string).
json_string: Callable[[str], str] = _json_encoder.encode_basestring

#: Dates, dataclasses and subclasses of str, int, dict and list are not orjson's to write:
#: they go to the standard library, which refuses the first two as before.
_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_SUBCLASS)
_dumps = orjson.dumps
_stdlib_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_stdlib_canonical = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                                     sort_keys=True).encode


def compact_json(value: Any) -> str:
    """Compact JSON text."""
    try:
        return _dumps(value, option=_OPTIONS).decode()
    except TypeError:  # an integer beyond 64 bits, a key that is not a string, ...
        return _stdlib_compact(value)


def canonical_json_bytes(value: Any) -> bytes:
    """Compact JSON with object keys sorted, as UTF-8: one text for one value, whatever the
    order its keys came in (what a digest hashes)."""
    try:
        return _dumps(value, option=_OPTIONS | orjson.OPT_SORT_KEYS)
    except TypeError:
        return _stdlib_canonical(value).encode()


def canonical_json(value: Any) -> str:
    """:func:`canonical_json_bytes` as text."""
    return canonical_json_bytes(value).decode()


def stdlib_canonical_json(value: Any) -> str:
    """What :func:`canonical_json` wrote before orjson: the standard library's sorted compact
    text (digests stored then are checked against it)."""
    return _stdlib_canonical(value)


#: Parse JSON text (``str`` or UTF-8 ``bytes``). Refuses what is not strict JSON (NaN,
#: infinity, invalid UTF-8, lone surrogates) with ``ValueError``. An integer beyond 64 bits
#: reads as a float, so the integer checks of sequences, clocks and counts refuse it.
load_json: Callable[[str | bytes], Any] = orjson.loads
