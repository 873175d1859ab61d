"""The policy reports over HTTP: ``/api/v1/reports`` and ``/api/v1/reports/<name>``.

Anyone signed in may read the reports of an area inside their scope (a worker their villages, a
supervisor their county or township); asking for an area outside it is refused, never narrowed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..auth import current_user, user_scope
from ..db import get_sealer, get_storage
from ..errors import BadRequest, NotFound, OutOfScope
from ..reporting import (REPORTS, Policy, ReportInputError, ScopeError, parse_params,
                         parse_scope, run_report)
from ..reporting.policy import configured_policy
from ..reporting.files import FORMATS, attachment, render
from ..reporting.params import EXTRA, ON
from ..reporting.model import Report
from ..reporting.sealed import mask_id_numbers
from ..reporting.sql import open_reader
from ..storage import AuditEntry
from ..sync_service import utc_now

bp = Blueprint("reports", __name__, url_prefix="/api/v1")

READERS = ("worker", "supervisor", "admin")
#: Who reads full ID numbers in reports read through the API and in downloads; a worker's
#: reports show them masked (docs/reports.md, *Who sees full ID numbers*). On the console's
#: pages they are always masked.
ID_READERS = ("supervisor", "admin")


def audit_report(storage: Any, actor: str, name: str, area: str, fmt: str, on: Any) -> None:
    """Reports hold personal data: who read or exported which one is in the audit log."""
    with storage.atomic():
        storage.append_audit(AuditEntry(utc_now(), actor, "report.export", f"{name}/{area}",
                                        {"format": fmt, "on": str(on)}))


def current_policy() -> Policy:
    return configured_policy(current_app.config.get("POLICY_FILE"), current_app.instance_path)


@bp.get("/reports")
def list_reports():  # type: ignore[no-untyped-def]
    current_user(*READERS)
    return jsonify({
        "reports": [{"name": name, "title": title,
                     "parameters": [p.name for p in (ON, *EXTRA[name])]}
                    for name, title in REPORTS.items()],
        "formats": list(FORMATS), "policy": current_policy().to_json()})


def compute_report(name: str, args: dict[str, str], user: Any) -> Report:
    """Check the request (report, area within the user's scope, parameters), compute the report
    and note it in the audit log. Shared by the JSON API and the console."""
    if name not in REPORTS:
        raise NotFound(f"没有报表 {name}", details={"reports": sorted(REPORTS)})
    args = dict(args)
    try:
        scope = parse_scope(args.pop("village", None), args.pop("township", None),
                            args.pop("county", None))
    except ScopeError as err:
        raise BadRequest(str(err)) from None
    if not user_scope(user)(scope.code):
        raise OutOfScope(f"您无权查看 {scope.code} 的报表", details={scope.kind: scope.code})
    fmt = args.pop("format", "json")
    try:
        on, params = parse_params(name, args, dt.date.today())
    except ReportInputError as err:
        raise BadRequest(str(err)) from None
    conn = open_reader(current_app.config["STORAGE_URL"])
    try:
        computed = run_report(conn, name, scope, current_policy(), on, params, get_sealer())
    finally:
        conn.close()
    if user.role not in ID_READERS:
        mask_id_numbers(computed)
    audit_report(get_storage(), user.name, name, scope.code, fmt, on)
    return computed


@bp.get("/reports/<name>")
def report(name: str):  # type: ignore[no-untyped-def]
    user = current_user(*READERS)
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise BadRequest("format 应为 json、csv 或 xlsx", details={"format": fmt})
    computed = compute_report(name, request.args.to_dict(), user)
    if fmt == "json":
        return jsonify(computed.to_json())
    body, media_type = render(computed, fmt)
    return Response(body, mimetype=media_type,
                    headers={"Content-Disposition": attachment(computed, fmt)})
