"""``cunsync-server token ...``: API tokens for scripts (see :mod:`server.tokens`)."""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import Flask
from flask.cli import with_appcontext

from . import tokens
from .cli import _storage


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@click.group("token", help="API tokens for scripts (Authorization: Bearer ...).")
def token_group() -> None:
    pass


@token_group.command("issue")
@click.argument("user_name")
@click.option("--label", default="", help="what the token is for (shown in the list)")
@click.option("--days", type=int, default=365, show_default=True,
              help=f"days until it expires (1 to {tokens.MAX_DAYS})")
@with_appcontext
def token_issue(user_name: str, label: str, days: int) -> None:
    """Issue a token acting as USER_NAME (same role and scope). The token is printed once and
    never stored: keep it like a password.

    Example: cunsync-server token issue jiandu --label "nightly export" --days 90
    """
    with _storage() as storage:
        token, row = tokens.issue(storage, user_name, label=label, days=days, actor="cli",
                                  now=_now())
    click.echo(json.dumps({"token": token, "id": row["id"], "user": user_name,
                           "expires_at": row["expires_at"]}, ensure_ascii=False))


@token_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per token")
@with_appcontext
def token_list(as_json: bool) -> None:
    """List tokens (never their secrets) with their state and last use.

    Example: cunsync-server token list --json
    """
    now = _now()
    with _storage() as storage:
        rows = storage.list_api_tokens()
    for row in rows:
        shown = {k: row[k] for k in ("id", "user_name", "label", "created_at", "expires_at",
                                     "revoked_at", "last_used_at")}
        shown["state"] = tokens.status(row, now)
        if as_json:
            click.echo(json.dumps(shown, ensure_ascii=False))
        else:
            click.echo(f"{row['id']}\t{row['user_name']}\t{shown['state']}"
                       f"\texpires={row['expires_at']}\tlast_used={row['last_used_at'] or '-'}"
                       f"\t{row['label']}")


@token_group.command("revoke")
@click.argument("token_id")
@with_appcontext
def token_revoke(token_id: str) -> None:
    """Revoke a token at once (TOKEN_ID from `token list`): its next call is refused.

    Example: cunsync-server token revoke 3f2a9c01
    """
    with _storage() as storage:
        tokens.revoke(storage, token_id, actor="cli", now=_now())
    click.echo(f"token {token_id} revoked")


def init_app(app: Flask) -> None:
    app.cli.add_command(token_group)
