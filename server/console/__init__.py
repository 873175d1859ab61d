"""The supervisors' console: server-rendered pages in Chinese under ``/console``.

Five concerns, five blueprints nested in one: ``session`` (login, logout, who is logged in),
``conflicts`` (the queue and settling conflicts), ``devices`` (sync health, enrolment codes,
revoking and wiping), ``refusals`` (changes the server refused one by one) and ``reports``
(the policy reports, with a chart where it helps). Every change goes through the same
functions as the JSON API and the CLI
(:class:`server.sync_service.SyncService`, :mod:`server.enrolment`, :mod:`server.accounts`), so
the audit log records it the same way. Pages use only the server's own CSS and script
(``server/static``): the county LAN may have no internet.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, render_template

from ..errors import ApiError, StorageBusy
from . import conflicts, csrf, devices, present, refusals, reports, session
from .errors import ConsoleError
from .settings import DEFAULTS

bp = Blueprint("console", __name__, url_prefix="/console")
bp.register_blueprint(session.bp)
bp.register_blueprint(conflicts.bp)
bp.register_blueprint(devices.bp)
bp.register_blueprint(reports.bp)
bp.register_blueprint(refusals.bp)

#: Only the server's own files; no inline script; never framed by another site.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@bp.before_request
def _before() -> Any:
    redirect = session.load_user()
    if redirect is not None:
        return redirect
    csrf.protect()
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global("csrf_token")
def _csrf_token() -> str:
    return csrf.token()


@bp.context_processor
def _context() -> dict[str, Any]:
    return {"me": g.get("console_user"), "status_labels": present.STATUS_LABELS,
            "resolution_labels": present.RESOLUTION_LABELS,
            "policy_labels": present.POLICY_LABELS, "role_labels": ROLE_LABELS}


ROLE_LABELS = {"supervisor": "监督员", "admin": "管理员", "worker": "工作队员"}


def _error_page(title: str, message: str, status: int):  # type: ignore[no-untyped-def]
    return render_template("console/error.html", title=title, message=message), status


@bp.errorhandler(ConsoleError)
def _console_error(err: ConsoleError):  # type: ignore[no-untyped-def]
    return _error_page(err.title, err.message, err.status)


@bp.errorhandler(ApiError)
def _api_error(err: ApiError):  # type: ignore[no-untyped-def]
    return _error_page("无法完成", err.message, err.status)


@bp.errorhandler(StorageBusy)
def _busy(err: StorageBusy):  # type: ignore[no-untyped-def]
    page, status = _error_page("服务器繁忙", "服务器正忙，这次操作没有保存任何改动。请稍等片刻再试。", 503)
    return page, status, {"Retry-After": str(current_app.config["BUSY_RETRY_AFTER_S"])}


@bp.route("/<path:rest>")
def _unknown(rest: str):  # type: ignore[no-untyped-def]
    return _error_page("找不到", "没有这个页面。", 404)


def init_app(app: Flask) -> None:
    """Register the console on ``app``."""
    app.register_blueprint(bp)


__all__ = ["DEFAULTS", "bp", "init_app"]
