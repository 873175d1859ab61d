"""Unlock with the worker's passphrase, lock by hand, keep alive while the worker types."""

from __future__ import annotations

import secrets

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ...keystore import NoKeys, WrongPassphrase
from ..errors import TooManyAttempts
from ..web import get_store, safe_next, vault

bp = Blueprint("auth", __name__)


@bp.route("/unlock", methods=["GET", "POST"])
def unlock() -> Response | str | tuple[str, int]:
    target = safe_next(request.values.get("next", "/"))
    if g.keys is not None:
        return redirect(target)
    store = get_store()  # explains a missing store before asking for a passphrase
    error = None
    if request.method == "POST":
        try:
            ticket = vault().unlock(store, request.form.get("passphrase", ""))
        except WrongPassphrase:
            error = "口令错误，无法解锁。请注意大小写和输入法后重新输入。"
        except (NoKeys, TooManyAttempts) as err:
            error = err.message
        else:
            session["ticket"] = ticket
            session["csrf"] = secrets.token_urlsafe(32)  # a fresh token once unlocked
            session.pop("lock_notice", None)
            return redirect(target)
    notice = session.pop("lock_notice", None)
    page = render_template("unlock.html", error=error, notice=notice, next=target)
    return (page, 401) if error else page


@bp.post("/lock")
def lock() -> Response:
    vault().lock()
    session.pop("ticket", None)
    session["lock_notice"] = "已锁定。再次使用请输入口令。"
    return redirect(url_for("auth.unlock"))


@bp.get("/ping")
def ping() -> tuple[str, int]:
    """The page calls this while the worker types, so a long form does not lock."""
    return "", 204
