"""JSON text as the sync engine writes it: compact, UTF-8 kept as is (not ``\\u`` escaped).

Every log entry, outbox change, row version and digest goes through here, so the encoders
are made once. ``JSONEncoder.encode`` builds a new C encoder on every call, which is a third
to a half of its time for the small values we write; :func:`_encoder` keeps one. What it
leaves out is the check for circular references: our values come from JSON or from plain
dicts and lists built here, and a cycle would end in ``RecursionError`` instead of
``ValueError``. Tests hold every encoder equal to :mod:`json`'s own.
"""

from __future__ import annotations

import json
from json import encoder as _json_encoder
from typing import Any, Callable

#: A str as JSON text, non-ASCII kept as is (what :func:`compact_json` does for a string).
json_string: Callable[[str], str] = _json_encoder.encode_basestring


def _encoder(*, sort_keys: bool) -> Callable[[Any], str]:
    """``json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=...).encode``,
    from one C encoder made once (the reference encoder where the C one is missing)."""
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                                 sort_keys=sort_keys)
    make = getattr(_json_encoder, "c_make_encoder", None)
    if make is None:
        return reference.encode
    try:
        chunks = make(None, reference.default, json_string, None, ":", ",", sort_keys,
                      False, True)
    except TypeError:  # another Python's signature: keep the reference
        return reference.encode
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode


#: Compact JSON text.
compact_json: Callable[[Any], str] = _encoder(sort_keys=False)
#: Compact JSON text with object keys sorted: one text for one value, whatever its key order.
canonical_json: Callable[[Any], str] = _encoder(sort_keys=True)
