"""Docs checked by tests: every error code and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import client_kit.cli
import server.cli
from server import create_app

ROOT = Path(__file__).resolve().parents[1]


def _codes_in(package: str) -> set[str]:
    codes = set()
    for path in (ROOT / package).rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'code\s*=\s*"([a-z_]+)"', text))
    return codes


def test_every_error_code_the_server_answers_with_is_in_the_protocol_spec():
    spec = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    codes = _codes_in("server") | {"clock_ahead", "upgrade_required"}
    missing = sorted(c for c in codes if f"`{c}`" not in spec)
    assert missing == []


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        else:
            yield " ".join(path)


def test_every_operator_command_is_in_the_operator_guide():
    guide = (ROOT / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    # The server's own commands are registered on the app (server.cli.init_app).
    app = create_app({"TESTING": True, "STORAGE_URL": "sqlite:///unused.sqlite",
                      "DATA_KEY": "A" * 43})
    names = (set(_commands(server.cli.main)) | set(_commands(app.cli))) - {"shell", "routes"}
    missing = sorted(n for n in names if f"cunsync-server {n}" not in guide
                     and not (n == "demo" and "demo" in guide))
    assert missing == []


def test_every_device_command_is_documented():
    docs = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    missing = sorted(n for n in _commands(client_kit.cli.main) if f"cunsync {n}" not in docs)
    assert missing == []


def test_every_test_the_security_overview_names_exists():
    overview = (ROOT / "docs" / "overview.md").read_text(encoding="utf-8")
    section = overview.split("## Security: each protection and its test")[1].split("\n## ")[0]
    named = 0
    for row in section.splitlines():
        if not row.startswith("| ") or row.startswith("| protection"):
            continue
        current = None
        for ref in re.findall(r"`([a-z0-9_/]+\.py)?(?:::)?(test_[a-z0-9_]+)?`", row):
            path, test = ref
            if path:
                current = ROOT / "tests" / path
                assert current.exists(), path
            if test:
                assert current is not None
                assert f"def {test}(" in current.read_text(encoding="utf-8"), (current, test)
                named += 1
    assert named >= 10


def test_every_record_type_and_its_fields_are_in_the_data_model():
    from client_kit.domain import RECORD_TYPES

    model = (ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", model, flags=re.M)
    missing = []
    for name, rt in RECORD_TYPES.items():
        if f"| `{name}` | `{rt.table}` | {rt.label} |" not in model:
            missing.append(name)
            continue
        section = next((s for s in sections if s.startswith(f"`{name}` — {rt.label}")), "")
        missing += [f"{name}.{f}" for f in rt.schema.fields
                    if f not in ("id", "village_code") and f"| `{f}` |" not in section]
    assert missing == []
    overview = (ROOT / "docs" / "overview.md").read_text(encoding="utf-8")
    count = ["Ten", "Eleven", "Twelve", "Thirteen"][len(RECORD_TYPES) - 10]
    assert f"{count} record types" in overview
