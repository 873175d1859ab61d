"""Commands for county operators: ``cunsync-server ...`` or ``flask --app server ...``."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import sys
from pathlib import Path
from importlib.metadata import PackageNotFoundError, version as package_version
from typing import Any, Iterator

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from client_kit.errors import CunsyncError

from . import accounts, enrolment
from .auth import ROLES
from .errors import ApiError
from .keyring import Keyring
from .serve_cli import serve_command
from .db import app_storage
from .storage import AuditEntry, Storage
from .sync_service import utc_now

_VILLAGE = re.compile(r"^\d{12}$")
_SCOPE = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")


def _json_option(command: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="print a JSON list (for scripts) instead of lines")(command)


def _echo_json(rows: list[dict[str, Any]]) -> None:
    click.echo(json.dumps(rows, ensure_ascii=False, indent=2))


@contextlib.contextmanager
def _storage() -> Iterator[Storage]:
    """The configured storage; refusals become clear command-line errors."""
    storage = app_storage(current_app)
    try:
        yield storage
    except (ApiError, CunsyncError) as err:
        raise click.ClickException(err.message) from None
    finally:
        storage.close()


@click.group("db", help="Database schema commands.")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply pending migrations to the server database.

    Example: cunsync-server db upgrade
    """
    with _storage() as storage:
        done = storage.upgrade()
    click.echo(f"applied migrations: {done}" if done else "database is up to date")


@click.group("user", help="Server users: workers, supervisors, admins.")
def user_group() -> None:
    pass


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="worker, supervisor or admin")
@click.option("--scope", multiple=True,
              help="village code, or 6-digit county / 9-digit township prefix (repeatable)")
@click.option("--display-name", default=None, help="name shown in the console (中文姓名)")
@click.password_option(help="password (asked for when not given)")
@with_appcontext
def user_add(name: str, role: str, scope: tuple[str, ...], display_name: str | None,
             password: str) -> None:
    """Create a user with a scrypt-hashed password.

    Example: cunsync-server user add lihua --role supervisor --scope 522731
    """
    for prefix in scope:
        if not _SCOPE.match(prefix):
            raise click.BadParameter(f"{prefix!r} is not a 6, 9 or 12 digit code",
                                     param_hint="--scope")
    with _storage() as storage:
        accounts.create_user(storage, name, role, list(scope), password,
                             display_name=display_name)
    click.echo(f"user {name} ({role}) created")


@user_group.command("list")
@_json_option
@with_appcontext
def user_list(as_json: bool) -> None:
    """List users with their role, scope and state (never their password).

    Example: cunsync-server user list --json
    """
    with _storage() as storage:
        users = storage.list_users()
    rows = [{"name": u.name, "role": u.role, "scope": u.scope, "display_name": u.display_name,
             "created_at": u.created_at, "disabled_at": u.disabled_at} for u in users]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        state = "disabled" if row["disabled_at"] else "active"
        click.echo(f"{row['name']}\t{row['role']}\t{','.join(row['scope']) or '-'}"
                   f"\t{row['display_name'] or '-'}\t{state}")


@user_group.command("unlock")
@click.argument("name")
@with_appcontext
def user_unlock(name: str) -> None:
    """Lift the login lock (console and API) after repeated wrong passwords, before it ends.

    Example: cunsync-server user unlock jiandu
    """
    with _storage() as storage:
        if storage.get_user(name) is None:
            raise click.ClickException(f"no user {name}")
        with storage.atomic():
            storage.clear_login_failures(name)
            storage.append_audit(AuditEntry(utc_now(), "cli", "user.unlock", name, {}))
    click.echo(f"user {name} unlocked")


@user_group.command("passwd")
@click.argument("name")
@click.password_option(help="the new password (asked for when not given)")
@with_appcontext
def user_passwd(name: str, password: str) -> None:
    """Set a user's password (at least 8 characters); their console sessions end.

    Example: cunsync-server user passwd jiandu
    """
    with _storage() as storage:
        accounts.set_password(storage, name, password, actor="cli")
    click.echo(f"password of {name} changed")


@click.group("enrol-code", help="One-time enrolment codes for team devices.")
def code_group() -> None:
    pass


@code_group.command("issue")
@click.option("--user", "user_name", required=True, help="the worker who will carry the device")
@click.option("--village", "villages", multiple=True, required=True,
              help="12-digit village code the device may sync (repeatable)")
@click.option("--hours", default=enrolment.DEFAULT_HOURS, show_default=True,
              help="hours until the code expires")
@with_appcontext
def code_issue(user_name: str, villages: tuple[str, ...], hours: int) -> None:
    """Issue a code a device enrols with (cunsync enroll --code ...). Shown once.

    Example: cunsync-server enrol-code issue --user wangfang --village 522731100201
    """
    for code in villages:
        if not _VILLAGE.match(code):
            raise click.BadParameter(f"{code!r} is not a 12-digit village code",
                                     param_hint="--village")
    with _storage() as storage:
        code, expires = enrolment.issue_code(storage, user_name, list(villages), actor="cli",
                                             hours=hours)
    click.echo(json.dumps({"code": code, "expires_at": expires, "user": user_name,
                           "villages": sorted(set(villages))}, ensure_ascii=False))


@code_group.command("list")
@_json_option
@with_appcontext
def code_list(as_json: bool) -> None:
    """List enrolment codes (their first four characters only) and their state.

    Example: cunsync-server enrol-code list --json
    """
    with _storage() as storage:
        codes = storage.list_enrolment_codes()
    if as_json:
        _echo_json([{"hint": c["hint"], "user": c["user_name"], "villages": c["villages"],
                     "state": ("used" if c["used_at"] else "withdrawn" if c["withdrawn_at"]
                               else "open"),
                     **{k: c[k] for k in ("created_at", "created_by", "expires_at", "used_at",
                                          "device_id", "withdrawn_at")}} for c in codes])
        return
    for c in codes:
        state = ("used by " + c["device_id"] if c["used_at"] else
                 "withdrawn" if c["withdrawn_at"] else "open until " + c["expires_at"])
        click.echo(f"{c['hint']}-…\t{c['user_name']}\t{','.join(c['villages'])}\t{state}")


@code_group.command("withdraw")
@click.argument("hint")
@with_appcontext
def code_withdraw(hint: str) -> None:
    """Withdraw the unused code(s) starting with HINT (its first four characters).

    Example: cunsync-server enrol-code withdraw K3F9
    """
    with _storage() as storage:
        count = enrolment.withdraw_code(storage, hint, actor="cli")
    click.echo(f"withdrawn: {count}")


@click.group("device", help="Team devices: list, revoke, wipe.")
def device_group() -> None:
    pass


@device_group.command("list")
@_json_option
@with_appcontext
def device_list(as_json: bool) -> None:
    """List devices with their last contact and progress.

    Example: cunsync-server device list --json
    """
    with _storage() as storage:
        devices = storage.list_devices()
    states = {d.id: ("wiped" if d.wiped_at else "wipe ordered" if d.wipe_requested_at
                     else "revoked" if d.revoked_at else "active") for d in devices}
    if as_json:
        _echo_json([{"id": d.id, "user": d.user_name, "villages": d.villages,
                     "state": states[d.id], "created_at": d.created_at,
                     "last_seen_at": d.last_seen_at, "acknowledged": d.acknowledged,
                     "pending": d.pending, "app_version": d.app_version,
                     "clock_skew_ms": d.clock_skew_ms, "revoked_at": d.revoked_at,
                     "wipe_requested_at": d.wipe_requested_at, "wiped_at": d.wiped_at}
                    for d in devices])
        return
    for d in devices:
        click.echo(f"{d.id}\t{d.user_name}\t{','.join(d.villages)}\t{states[d.id]}"
                   f"\tlast_seen={d.last_seen_at or '-'}\tacked={d.acknowledged}")


@device_group.command("revoke")
@click.argument("device_id")
@with_appcontext
def device_revoke(device_id: str) -> None:
    """Stop a device at once: its next request is refused.

    Example: cunsync-server device revoke dev-3f2a9c01b7d4
    """
    with _storage() as storage:
        accounts.revoke_device(storage, device_id)
    click.echo(f"device {device_id} revoked")


@device_group.command("wipe")
@click.argument("device_id")
@with_appcontext
def device_wipe(device_id: str) -> None:
    """Revoke a device and order it, on its next contact, to destroy its keys and data.

    Example: cunsync-server device wipe dev-3f2a9c01b7d4
    """
    with _storage() as storage:
        accounts.revoke_device(storage, device_id, wipe=True)
    click.echo(f"device {device_id} revoked; wipe ordered for its next contact")


@click.group("keys", help="The server's own key pairs.")
def keys_group() -> None:
    pass


def _keyring(storage: Storage) -> Keyring:
    return Keyring(storage, current_app.extensions["cunsync_sealer"])


@keys_group.command("list")
@_json_option
@with_appcontext
def keys_list(as_json: bool) -> None:
    """List the server keys and their status (active, retiring, retired).

    Example: cunsync-server keys list --json
    """
    with _storage() as storage:
        _keyring(storage).keys()
        keys = storage.server_keys()
    if as_json:  # public parts only: the private keys stay sealed in the database
        _echo_json([{k: row[k] for k in ("key_id", "status", "created_at", "retired_at",
                                         "sign_public", "box_public")} for row in keys])
        return
    for row in keys:
        click.echo(f"{row['key_id']}\t{row['status']}\tcreated={row['created_at']}")


@keys_group.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Make a new active key pair; the old one is still accepted until retired.

    Example: cunsync-server keys rotate
    """
    with _storage() as storage:
        ring = _keyring(storage)
        ring.keys()
        new = ring.rotate()
        storage.append_audit(AuditEntry(utc_now(), "cli", "keys.rotate", new.key_id, {}))
    click.echo(f"new active key {new.key_id}")


@keys_group.command("retire")
@click.argument("key_id")
@with_appcontext
def keys_retire(key_id: str) -> None:
    """Stop accepting a retiring key (after every device has synced once since rotation).

    Example: cunsync-server keys retire 3b0ed6ae5cd2b191
    """
    with _storage() as storage:
        _keyring(storage).retire(key_id)
        storage.append_audit(AuditEntry(utc_now(), "cli", "keys.retire", key_id, {}))
    click.echo(f"key {key_id} retired")


@click.group("bundle", help="USB bundles for villages with no signal at all.")
def bundle_group() -> None:
    pass


@bundle_group.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--reply", "reply_path", required=True, type=click.Path(dir_okay=False),
              help="where to write the reply bundle for the device")
@with_appcontext
def bundle_import(bundle: str, reply_path: str) -> None:
    """Apply a device's bundle and write its reply (acknowledgement and new data).

    Example: cunsync-server bundle import /media/usb/dev-1.bundle --reply /media/usb/dev-1.reply
    """
    from .bundles import import_bundle

    with _storage() as storage:
        data = Path(bundle).read_bytes()
        reply, summary = import_bundle(storage, _keyring(storage), data,
                                       max_ahead_ms=int(current_app.config["MAX_CLOCK_AHEAD_MS"]),
                                       min_schema=int(current_app.config["MIN_CLIENT_SCHEMA"]))
    Path(reply_path).write_bytes(reply)
    click.echo(summary)


@click.group("audit", help="The hash-chained audit log.")
def audit_group() -> None:
    pass


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check that no audit entry was altered, inserted or removed; print the head hash.

    Example: cunsync-server audit verify
    """
    from .audit import verify_chain

    with _storage() as storage:
        rows, head = storage.audit_chain()
    verdict = verify_chain(rows, head)
    for problem in verdict.problems:
        click.echo(f"PROBLEM: {problem}")
    click.echo(f"{verdict.entries} entries, head {verdict.head}")
    if not verdict.ok:
        raise click.ClickException("the audit log was tampered with")


@click.command("demo")
@click.option("--households", default=300, show_default=True, help="households to create")
@click.option("--seed", default=7, show_default=True,
              help="random seed (the same seed gives the same county)")
@click.option("--password", default="demo-password", show_default=True,
              help="password of the demo users")
@with_appcontext
def demo_command(households: int, seed: int, password: str) -> None:
    """Create a realistic demo county: townships, villages, households, posts, trainings,
    team devices and a handful of open conflicts. Refuses a database that has data already.

    Example: cunsync-server demo --households 300
    """
    from .demo import build_demo

    with _storage() as storage:
        storage.upgrade()
        if storage.village_codes():
            raise click.ClickException("the database holds data already; the demo needs an "
                                       "empty one (set CUNSYNC_STORAGE_URL to a new file)")
        for line in build_demo(storage, households=households, seed=seed, password=password):
            click.echo(line)


#: ``-h`` is ``--help`` for every command (click caches a command's help option, so the app's
#: own group, which tests and ``flask --app server`` go through, says so too).
HELP_OPTIONS = ["-h", "--help"]


def init_app(app: Flask) -> None:
    app.cli.context_settings["help_option_names"] = HELP_OPTIONS
    for command in (db_group, user_group, code_group, device_group, keys_group, bundle_group,
                    audit_group, demo_command):
        app.cli.add_command(command)
    from . import report_cli  # the policy reports' commands (docs/reports.md)
    report_cli.init_app(app)
    from . import token_cli  # API tokens for scripts (docs/operator-guide.md)
    token_cli.init_app(app)
    from . import backup_cli  # backup and restore (docs/operator-guide.md)
    backup_cli.init_app(app)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


def cunsync_version() -> str:
    try:
        return package_version("cunsync")
    except PackageNotFoundError:  # pragma: no cover  (running from a checkout, not installed)
        return "unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"cunsync-server {cunsync_version()}")
        ctx.exit()


class ServerGroup(FlaskGroup):
    """Flask's command group as cunsync's own: the app is always cunsync's server, so Flask's
    options (``--app``, ``--env-file``, ``--debug``) are left out, ``--version`` is cunsync's
    version and ``-h`` is ``--help``."""

    _FLASK_OPTIONS = ("app", "env_file", "debug")

    def __init__(self, **extra: Any) -> None:
        super().__init__(create_app=_create_app, add_version_option=False, load_dotenv=False,
                         set_debug_flag=False,
                         context_settings={"help_option_names": HELP_OPTIONS}, **extra)
        self.params = [p for p in self.params if p.name not in self._FLASK_OPTIONS]
        self.params.append(click.Option(
            ["--version"], is_flag=True, expose_value=False, is_eager=True,
            callback=_print_version, help="Show cunsync's version and exit."))
        # Flask's `run -h` is the host: only --help asks for its help.
        run = copy.copy(self.commands["run"])
        run.context_settings = {**run.context_settings, "help_option_names": ["--help"]}
        run.help = ("Run the development server (werkzeug, one process): for trying things "
                    "out on your own machine only. In production use `cunsync-server serve` "
                    "(gunicorn, several workers; docs/operator-guide.md).\n\n"
                    "Example: cunsync-server run --port 5000")
        self.add_command(run)


main = ServerGroup(help="cunsync county server.\n\n"
                   "Example: cunsync-server demo && cunsync-server run")
main.add_command(serve_command)  # production serving under gunicorn (server/serve_cli.py)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
