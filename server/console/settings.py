"""Console settings, read from the same places as every server setting (see ``server.config``).

``PERMANENT_SESSION_LIFETIME`` is Flask's own: a console session ends after that long without a
request (the signed cookie carries its time, so an old cookie is refused by the server even if
a browser keeps sending it). ``CONSOLE_SESSION_MAX_HOURS`` ends it in any case that long after
login. Set ``SECRET_KEY`` (instance config or ``CUNSYNC_SECRET_KEY``): without it every restart
signs everybody out.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Idle time (seconds) after which a supervisor must log in again.
    "PERMANENT_SESSION_LIFETIME": 30 * 60,
    # Hours after login after which the session ends even if it is in use.
    "CONSOLE_SESSION_MAX_HOURS": 12,
    # Wrong passwords in a row before a user name is locked, and for how long.
    "CONSOLE_MAX_FAILED_LOGINS": 5,
    "CONSOLE_LOCK_MINUTES": 15,
    # The console's cookie is not sent with requests started by other sites.
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    # The address devices use to reach this server, shown in the enrolment command after a
    # code is issued (e.g. "http://10.0.0.5:5000"); unset, the address the admin's browser used.
    "SERVER_URL": None,
}
