"""Change records: what a device pushes and what a device pulls.

A field's *version* is the pair ``(hlc, device_id)``: the hybrid-logical-clock timestamp of the
write and the device that made it. Pairs compare by timestamp first, then device id, so two
versions are never equal unless they name the same write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from .jsontext import (canonical_json_bytes, compact_json, json_string, load_json,
                       stdlib_canonical_json)

Version = tuple[int, str]

#: Pseudo-field that carries a row's deletion (tombstone) and its version.
DELETED = "_deleted"

UPSERT = "upsert"
DELETE = "delete"


def version_from_json(raw: Any) -> Version | None:
    """Decode a version stored as ``[hlc, device]`` (or ``None``)."""
    if raw is None:
        return None
    hlc, device = raw
    return (int(hlc), str(device))


@dataclass(slots=True)
class Change:
    """One local write, as it sits in the device outbox and travels in a push.

    ``fields`` holds the new values (empty for a delete). ``base`` holds, for each field the
    write touched, the version the device had when it wrote; a delete's ``base`` holds every
    field the device knew, so the server can tell a concurrent update.
    """

    seq: int
    record_type: str
    row_id: str
    village: str
    hlc: int
    op: str = UPSERT
    fields: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Version | None] = field(default_factory=dict)

    def to_wire(self) -> list[Any]:
        """A compact list form for the wire: keys are not repeated for every change."""
        base = {k: (list(v) if v else None) for k, v in self.base.items()}
        # A create has no base at all: send nothing rather than a map of nulls.
        return [
            self.seq,
            self.record_type,
            self.row_id,
            self.village,
            self.hlc,
            self.op,
            self.fields,
            base if any(v is not None for v in base.values()) or self.op == DELETE else None,
        ]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> "Change":
        """Inverse of :meth:`to_wire`; raises ``ValueError``/``TypeError`` on a bad shape."""
        if not isinstance(raw, list):
            raise TypeError("a change is an array")
        seq, record_type, row_id, village, hlc, op, fields, base = raw
        if not isinstance(fields, dict) or not (base is None or isinstance(base, dict)):
            raise TypeError("change fields and base must be objects")
        if op not in (UPSERT, DELETE):
            raise ValueError(f"unknown op {op!r}")
        for name, value in (("seq", seq), ("hlc", hlc)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer")
        for name, value in (("record_type", record_type), ("row_id", row_id),
                            ("village", village)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string")
        base_versions = {k: version_from_json(v) for k, v in (base or {}).items()}
        if base is None:
            base_versions = {k: None for k in fields}
        return cls(int(seq), str(record_type), str(row_id), str(village), int(hlc), op,
                   dict(fields), base_versions)

    def digest(self) -> str:
        """A content hash, used to tell an honest retry from a replay with altered content."""
        return hashlib.sha256(canonical_json_bytes(self._digest_body())).hexdigest()[:32]

    def legacy_digest(self) -> str:
        """The digest as servers before orjson computed it. It differs from :meth:`digest`
        only for a change holding a float under 1e-4; a server compares a retried change with
        both, so a push cut before an upgrade is acknowledged after it."""
        return hashlib.sha256(stdlib_canonical_json(self._digest_body()).encode()).hexdigest()[:32]

    def _digest_body(self) -> list[Any]:
        return [self.record_type, self.row_id, self.village, self.hlc, self.op, self.fields,
                {k: (list(v) if v else None) for k, v in sorted(self.base.items())}]


_NOTHING = object()


def _is_version(value: Any) -> bool:
    """Whether ``value`` is a version as the merge makes them: ``(int, str)``."""
    return (type(value) is tuple and len(value) == 2 and type(value[0]) is int
            and type(value[1]) is str)


def _one_version(versions: dict[str, Any]) -> Version | None:
    """The version every field of ``versions`` has, when all hold the very same tuple (one
    write made them), else ``None``."""
    for first in versions.values():
        if not _is_version(first):
            return None
        for other in versions.values():
            if other is not first:
                return None
        return first  # type: ignore[no-any-return]
    return None


def _version_text(version: Version) -> str:
    return f"[{version[0]},{json_string(version[1])}]"


#: Text made from a tuple of field names, kept per tuple (see :func:`_for_names`). Bounded:
#: field sets come from the record types, but a push could name odd ones.
_TEXTS_MAX = 4096
#: ``'{"a":', ',"b":', '}'`` for ``("a", "b")``: joined with one version's text, the versions
#: of fields that share one write.
_LAYOUTS: dict[tuple[str, ...], Any] = {}
#: ``',"a":0,"b":0}'`` for ``("a", "b")``: the end of :func:`row_versions_json`'s shared form.
_SHARED_SUFFIXES: dict[tuple[str, ...], Any] = {}


def _for_names(cache: dict[tuple[str, ...], Any], names: tuple[str, ...],
               make: Callable[[tuple[str, ...]], Any]) -> Any:
    """``make(names)``, kept in ``cache``; ``None`` when a name is not a plain identifier
    (JSON would have to escape it)."""
    made = cache.get(names)
    if made is None and all(type(n) is str and n.isidentifier() for n in names):
        made = make(names)
        if len(cache) < _TEXTS_MAX:
            cache[names] = made
    return made


def _layout(names: tuple[str, ...]) -> list[str]:
    return ['{"' + names[0] + '":', *[',"' + n + '":' for n in names[1:]], "}"]


def _shared_suffix(names: tuple[str, ...]) -> str:
    return "".join(f',"{name}":0' for name in names) + "}"


def versions_json(versions: dict[str, Any]) -> str:
    """``{field: [hlc, device]}`` as compact JSON text, exactly as ``json.dumps`` with compact
    separators and ``ensure_ascii=False`` writes it (a test holds the two equal), but faster
    for the usual row, whose fields share one ``(hlc, device)`` tuple."""
    shared = _one_version(versions)
    if shared is not None:
        layout = _for_names(_LAYOUTS, tuple(versions), _layout)
        if layout is not None:
            return _version_text(shared).join(layout)
    parts = []
    last: Any = _NOTHING
    text = ""
    for name, version in versions.items():
        if version is not last:
            if not _is_version(version):
                return compact_json(versions)  # anything unusual: the encoder itself
            text = _version_text(version)
            last = version
        if not (type(name) is str and name.isidentifier()):
            return compact_json(versions)
        parts.append(f'"{name}":{text}')
    return "{" + ",".join(parts) + "}"


#: In a row's stored versions, the key of the one version all its fields share; each field
#: then holds 0 instead of repeating it (see :func:`row_versions_json`).
SHARED_VERSION = "@"


def row_versions_json(versions: dict[str, Any]) -> str:
    """A row's versions as its ``_versions`` column keeps them.

    A row made by one write (the usual new row, pushed or pulled) has one version for all its
    fields: it is written once, ``{"@": [hlc, device], "name": 0, "sex": 0, ...}``, a third of
    the bytes of ``{"name": [hlc, device], "sex": [hlc, device], ...}``, which is written
    otherwise (as :func:`versions_json`). :func:`row_versions_from_json` reads both.
    """
    shared = _one_version(versions)
    if shared is not None:
        text = shared_row_versions_json(tuple(versions), shared)
        if text is not None:
            return text
    return versions_json(versions)


def shared_row_versions_json(names: tuple[str, ...], version: Any) -> str | None:
    """The shared form of :func:`row_versions_json` for the fields ``names``, all at
    ``version``; ``None`` where it does not apply (fewer than two fields, a name JSON would
    have to escape, a version that is not ``(int, str)``)."""
    if len(names) < 2 or not _is_version(version):
        return None
    suffix = _for_names(_SHARED_SUFFIXES, names, _shared_suffix)
    if suffix is None:
        return None
    return f'{{"{SHARED_VERSION}":{_version_text(version)}{suffix}'


def row_versions_from_json(text: str | bytes) -> dict[str, Version | None]:
    """Inverse of :func:`row_versions_json` (and reads rows written before the shared form).
    Fields sharing the version share one tuple."""
    raw = load_json(text)
    if SHARED_VERSION in raw:
        one = version_from_json(raw.pop(SHARED_VERSION))
        return {k: (one if v == 0 else version_from_json(v)) for k, v in raw.items()}
    return {k: version_from_json(v) for k, v in raw.items()}


def compact_versions(field_names: Any, deleted: bool | None,
                     versions: dict[str, Any]) -> Any:
    """The versions of a log entry for the wire and the log, as small as they can be.

    An entry usually carries one write: every field it names (and ``_deleted`` when it
    changes the tombstone) has the same version. Then the versions are that one ``[hlc,
    device]`` pair, else an object ``{field: [hlc, device]}``. :func:`expand_versions` is the
    inverse. Versions may be tuples or lists.
    """
    expected = set(field_names)
    if deleted is not None:
        expected.add(DELETED)
    values = list(versions.values())
    if values and versions.keys() == expected and all(v == values[0] for v in values):
        return [values[0][0], values[0][1]]
    return {k: [v[0], v[1]] for k, v in versions.items()}


def compact_versions_json(field_names: Any, deleted: bool | None,
                          versions: dict[str, Any]) -> str:
    """:func:`compact_versions` as compact JSON text; the usual entry, whose versions are
    one tuple for exactly its fields, without building the pair and encoding it."""
    shared = _one_version(versions)
    if (shared is not None and isinstance(field_names, dict)
            and len(versions) == len(field_names) + (deleted is not None)
            and versions.keys() >= field_names.keys()
            and (deleted is None or DELETED in versions)):
        return _version_text(shared)
    return compact_json(compact_versions(field_names, deleted, versions))


def expand_versions(raw: Any, field_names: Any, deleted: bool | None) -> dict[str, Version]:
    """Inverse of :func:`compact_versions`: ``{field: (hlc, device)}``, nulls left out.

    Raises ``TypeError``/``ValueError`` on a bad shape.
    """
    if isinstance(raw, list):
        one = version_from_json(raw)
        expanded = dict.fromkeys(field_names, one)
        if deleted is not None:
            expanded[DELETED] = one
        return expanded  # type: ignore[return-value]
    if not isinstance(raw, dict):
        raise TypeError("versions must be an object or one [hlc, device] pair")
    parsed = {k: version_from_json(v) for k, v in raw.items()}
    return {k: v for k, v in parsed.items() if v is not None}


@dataclass(slots=True)
class PulledEntry:
    """One entry of the server's ordered change log, as a device pulls it.

    ``fields`` and ``versions`` hold the values and versions the server now has for the fields
    this entry changed; ``deleted`` is the row's tombstone state when this entry changed it (else
    ``None``); ``disputed`` is the row's full set of fields under supervisor review afterwards.
    """

    cursor: int
    record_type: str
    row_id: str
    village: str
    fields: dict[str, Any]
    versions: dict[str, Version]
    deleted: bool | None = None
    disputed: tuple[str, ...] = ()
    #: The one version of all of ``versions`` when the entry came with one ``[hlc, device]``
    #: pair (see :func:`compact_versions`), else ``None``. Not compared: the same entry may
    #: come in either form.
    one_version: Version | None = field(default=None, compare=False, repr=False)

    def to_wire(self, compact: bool = True) -> list[Any]:
        """The list form for the wire; ``compact=False`` always sends versions as an object
        (what clients of schema version 1 read)."""
        versions = (compact_versions(self.fields, self.deleted, self.versions) if compact
                    else {k: list(v) for k, v in self.versions.items()})
        return [self.cursor, self.record_type, self.row_id, self.village, self.fields,
                versions, self.deleted, list(self.disputed)]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> "PulledEntry":
        if not isinstance(raw, list):
            raise TypeError("an entry is an array")
        cursor, record_type, row_id, village, fields, versions, deleted, disputed = raw
        if not isinstance(fields, dict):
            raise TypeError("entry fields must be an object")
        deleted = None if deleted is None else bool(deleted)
        expanded = expand_versions(versions, fields, deleted)
        one = next(iter(expanded.values()), None) if isinstance(versions, list) else None
        return cls(int(cursor), record_type, row_id, village, fields, expanded, deleted,
                   tuple(disputed), one)
