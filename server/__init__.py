"""The county server: a Flask application (``create_app``) over a pluggable storage."""

from __future__ import annotations

import gc
import os
from typing import Any, Mapping

from flask import Flask, Response, redirect, request, url_for

from .config import DEFAULTS, storage_path
from .console.settings import DEFAULTS as CONSOLE_DEFAULTS


def tune_collector(threshold: int) -> None:
    """Run the cyclic garbage collector after ``threshold`` allocations instead of Python's
    700 (see ``GC_THRESHOLD``); never lower it, so several apps in one process don't undo it.
    Reference counting still frees every object as soon as it is unused; only cycles wait."""
    first, *older = gc.get_threshold()
    if threshold > first:
        gc.set_threshold(threshold, *older)


def instance_folder(instance_path: str | None = None) -> str:
    """The instance folder (configuration, the data key, the default database): the one
    given, else ``CUNSYNC_INSTANCE_PATH``, else ``instance/`` in the working directory (never
    inside the installed package)."""
    chosen = instance_path or os.environ.get("CUNSYNC_INSTANCE_PATH") or "instance"
    return os.path.abspath(chosen)


def create_app(test_config: Mapping[str, Any] | None = None,
               instance_path: str | None = None) -> Flask:
    """Build the server. Configuration: defaults, ``config.py`` in the instance folder
    (:func:`instance_folder`), ``CUNSYNC_*`` env, then ``test_config`` (when given, the
    instance file and environment are skipped). Building it writes nothing: the instance folder
    is made when something is first stored in it."""
    app = Flask(__name__, instance_path=instance_folder(instance_path),
                instance_relative_config=True)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(CONSOLE_DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CUNSYNC")
    else:
        app.config.from_mapping(test_config)
    app.config["STORAGE_URL"] = storage_path(app.config["STORAGE_URL"], app.instance_path)
    # `serve` refuses to start without a key of the operator's (server/serve_cli.py).
    app.extensions["cunsync_secret_key_made"] = not app.config.get("SECRET_KEY")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.urandom(32).hex()

    from . import api, cli, console, db, health, metrics

    tune_collector(int(app.config["GC_THRESHOLD"]))
    db.init_app(app)
    api.register(app)
    cli.init_app(app)
    console.init_app(app)
    health.init_app(app)
    metrics.init_app(app)

    @app.get("/")
    def index() -> Response:
        """A browser (it asks for HTML first) goes to the console; a program gets JSON."""
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
            response = redirect(url_for("console.conflicts.queue"))
        else:
            response = app.json.response(
                {"service": "cunsync", "api": "/api/v1/openapi.json", "console": "/console/"})
        response.vary.add("Accept")
        return response

    return app
