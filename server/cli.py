"""Commands for county operators: ``cunsync-server ...`` or ``flask --app server ...``."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from typing import Iterator

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from client_kit.errors import CunsyncError

from . import accounts, db
from .auth import ROLES
from .errors import ApiError
from .storage import Storage, open_storage

_VILLAGE = re.compile(r"^\d{12}$")
_SCOPE = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")


@contextlib.contextmanager
def _storage() -> Iterator[Storage]:
    """The configured storage; refusals become clear command-line errors."""
    storage = open_storage(current_app.config["STORAGE_URL"])
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


@click.group("device", help="Team devices: register, list, revoke.")
def device_group() -> None:
    pass


@device_group.command("add")
@click.option("--user", "user_name", required=True, help="the worker who carries the device")
@click.option("--village", "villages", multiple=True, required=True,
              help="12-digit village code the device may sync (repeatable)")
@click.option("--id", "device_id", default=None, help="device id (default: generated)")
@with_appcontext
def device_add(user_name: str, villages: tuple[str, ...], device_id: str | None) -> None:
    """Register a device for a user and villages; prints its id and its one-time token.

    Example: cunsync-server device add --user wangfang --village 522731100201
    """
    for code in villages:
        if not _VILLAGE.match(code):
            raise click.BadParameter(f"{code!r} is not a 12-digit village code",
                                     param_hint="--village")
    with _storage() as storage:
        device, token = accounts.register_device(storage, user_name, list(villages), device_id)
    click.echo(json.dumps({"device_id": device.id, "token": token,
                           "villages": device.villages}, ensure_ascii=False))


@device_group.command("list")
@with_appcontext
def device_list() -> None:
    """List devices with their last contact and progress.

    Example: cunsync-server device list
    """
    with _storage() as storage:
        for d in storage.list_devices():
            state = "revoked" if d.revoked_at else "active"
            click.echo(f"{d.id}\t{d.user_name}\t{','.join(d.villages)}\t{state}"
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


def init_app(app: Flask) -> None:
    for command in (db_group, user_group, device_group, demo_command):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="cunsync county server.\n\n"
                  "Example: cunsync-server demo && cunsync-server run")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
