"""The append-only audit log as a hash chain, and its verification.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own canonical
content (id, time, actor, action, target, detail). Editing, inserting or deleting any entry
breaks the chain from there on. The newest hash (``head``) is also kept in ``server_meta``;
``verify`` compares it, so cutting entries off the end is found too. Against someone who can
rewrite both the database and the head, copy the head printed by ``audit verify`` somewhere
else now and then (a paper ledger, an e-mail): an older head must remain a prefix of the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

GENESIS = "0" * 64


def entry_hash(prev_hash: str, entry_id: int, at: str, actor: str, action: str,
               target: str | None, detail: Any) -> str:
    body = json.dumps([entry_id, at, actor, action, target, detail], ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass
class Verdict:
    ok: bool
    entries: int
    head: str
    problems: list[str]


def verify_chain(rows: Iterable[tuple[int, str, str, str, str | None, str, str | None,
                                      str | None]], head: str | None) -> Verdict:
    """Check rows ``(id, at, actor, action, target, detail_json, prev_hash, hash)`` in id order."""
    problems: list[str] = []
    prev = GENESIS
    count = 0
    for entry_id, at, actor, action, target, detail, prev_hash, stored in rows:
        count += 1
        if stored is None:
            problems.append(f"entry {entry_id} is not chained")
            continue
        if prev_hash != prev:
            problems.append(f"entry {entry_id}: the entry before it was removed or altered")
        expected = entry_hash(prev_hash or "", entry_id, at, actor, action, target,
                              json.loads(detail))
        if expected != stored:
            problems.append(f"entry {entry_id} was altered")
        prev = stored
    if head is not None and head != prev:
        problems.append("entries were removed from the end of the log (head does not match)")
    return Verdict(not problems, count, prev, problems)
