"""CSRF protection for the console's forms: a random token kept in the (signed) session.

Every form carries the token in a hidden ``csrf_token`` field; every unsafe request to the
console must send it back. Another site can make a browser post to the console, with its
cookie, but cannot read the token. (flask-wtf does the same with more machinery; a dozen lines
are enough for plain forms, and one dependency fewer to review and install offline.)
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from .errors import FormExpired

FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def token() -> str:
    """The session's token, made on first use (templates call it for every form)."""
    if not isinstance(session.get(FIELD), str):
        session[FIELD] = secrets.token_urlsafe(32)
    return str(session[FIELD])


def renew() -> None:
    """A new token (at login and logout, so a token seen before does not outlive them)."""
    session[FIELD] = secrets.token_urlsafe(32)


def protect() -> None:
    """Refuse an unsafe request whose form token is missing or not the session's."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get(FIELD)
    sent = request.form.get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(),
                                                                expected.encode()):
        raise FormExpired()
