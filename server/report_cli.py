"""Commands for the policy reports: ``cunsync-server report``, ``policy show`` and
``grant import`` (registered by :func:`init_app`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .reporting import (REPORTS, Policy, PolicyError, ReportInputError, ScopeError,
                        parse_params, parse_scope, run_report)
from .reporting.files import FORMATS, render
from .reporting.params import EXTRA
from .reporting.policy import configured_policy
from .reporting.scope import KINDS, is_known
from .reporting.sql import open_reader

_OPTIONAL = {p.name: p for params in EXTRA.values() for p in params}


def _policy() -> Policy:
    try:
        return configured_policy(current_app.config.get("POLICY_FILE"),
                                 current_app.instance_path)
    except PolicyError as err:
        raise click.ClickException(str(err)) from None


def _with_report_options(command: Any) -> Any:
    for param in reversed(list(_OPTIONAL.values())):
        reports = ", ".join(n for n, ps in EXTRA.items() if param in ps)
        command = click.option(f"--{param.name}", default=None, metavar=param.example,
                               help=f"{param.help} [{reports}]")(command)
    return command


@click.command("report")
@click.argument("name", type=click.Choice(list(REPORTS)))
@click.option("--village", help="12-digit village code")
@click.option("--township", help="9-digit township code")
@click.option("--county", help="6-digit county code")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="json, a CSV ledger or an XLSX workbook")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="file to write (default: standard output, not for xlsx)")
@click.option("--on", default=None, metavar="2025-12-31", help="report day (default: today)")
@_with_report_options
@with_appcontext
def report_command(name: str, village: str | None, township: str | None, county: str | None,
                   fmt: str, output: Path | None, **raw: str | None) -> None:
    """Compute policy report NAME for one village, township or county.

    Reports: household-coverage (一户一人), employment-scale, subsidies, posts, training,
    early-warning. See docs/reports.md.

    Example: cunsync-server report subsidies --county 522731 --on 2025-12-31
    --format xlsx --output 补贴花名册.xlsx
    """
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx needs --output FILE")
    try:
        scope = parse_scope(village, township, county)
        on, params = parse_params(name, raw, dt.date.today())
    except (ScopeError, ReportInputError) as err:
        raise click.UsageError(str(err)) from None
    conn = open_reader(current_app.config["STORAGE_URL"])
    try:
        if not is_known(conn, scope):
            _, label = KINDS[scope.kind]
            raise click.ClickException(
                f"服务器上没有区划代码为 {scope.code} 的{label}（没有该范围内的村），请检查代码")
        report = run_report(conn, name, scope, _policy(), on, params,
                            current_app.extensions["cunsync_sealer"])
    finally:
        conn.close()
    from .api.reports import audit_report
    from .db import app_storage

    storage = app_storage(current_app)
    try:
        audit_report(storage, "cli", name, scope.code, fmt, on)
    finally:
        storage.close()
    body, _ = render(report, fmt)
    if output is None:
        sys.stdout.buffer.write(body if fmt != "csv" else body.decode("utf-8-sig").encode())
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(body)
        click.echo(f"{report.heading}: {output}", err=True)


@click.group("policy", help="The policy parameters the reports apply.")
def policy_group() -> None:
    pass


@policy_group.command("show")
@with_appcontext
def policy_show() -> None:
    """Print the parameters in force (defaults, then the POLICY_FILE overrides) as JSON.

    Example: CUNSYNC_POLICY_FILE=/srv/cunsync/policy.toml cunsync-server policy show
    """
    click.echo(json.dumps(_policy().to_json(), ensure_ascii=False, indent=2))


@click.group("grant", help="Subsidies already granted (so nobody is paid twice).")
def grant_group() -> None:
    pass


@grant_group.command("import")
@click.argument("sheet", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check the file and say what would be imported")
@click.option("--actor", default="cli", show_default=True, help="who imports (audit log)")
@with_appcontext
def grant_import(sheet: Path, dry_run: bool, actor: str) -> None:
    """Import granted subsidies from a CSV or XLSX ledger (columns 身份证号, 姓名, 补贴类型,
    发放金额, 发放日期, 备注). Any bad row refuses the whole file.

    Example: cunsync-server grant import 2025年交通补助发放名册.xlsx
    """
    from . import grants_import
    from .db import app_storage

    conn = open_reader(current_app.config["STORAGE_URL"])
    try:
        planned = grants_import.plan(conn, grants_import.read_sheet(sheet),
                                     current_app.extensions["cunsync_sealer"])
    except grants_import.GrantImportError as err:
        raise click.ClickException("未导入任何记录：\n" + "\n".join(err.problems)) from None
    finally:
        conn.close()
    if dry_run:
        click.echo(f"would import {len(planned.new)}; already recorded {planned.unchanged}")
        return
    storage = app_storage(current_app)
    try:
        count = grants_import.apply(storage, planned.new, actor=actor, source=sheet.name)
    finally:
        storage.close()
    click.echo(f"imported {count}; already recorded {planned.unchanged}")


def init_app(app: Flask) -> None:
    for command in (report_command, policy_group, grant_group):
        app.cli.add_command(command)
