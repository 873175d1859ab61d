"""Policy reports in the console: pick a report and an area, read the figures with a chart where
a picture helps, download the ledger as CSV or XLSX. Computed by the same code as the JSON API
(:func:`server.api.reports.compute_report`), so scope checks and the audit log are the same."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, request

from ..api.reports import compute_report, current_policy
from ..auth import user_scope
from ..errors import ApiError
from ..reporting import REPORTS
from ..reporting.files import attachment, render
from ..reporting.model import Report
from ..reporting.scope import KINDS, Area, area_choices
from ..reporting.sealed import mask_id_numbers
from ..reporting.sql import open_reader

bp = Blueprint("reports", __name__)

TITLES = {
    "household-coverage": "一户一人就业覆盖",
    "employment-scale": "就业规模",
    "subsidies": "补贴发放名册",
    "posts": "公益性岗位",
    "training": "技能培训",
    "early-warning": "就业转失业预警",
}
#: Rows shown on the page per table; the download carries them all.
PAGE_ROWS = 200


@dataclass(frozen=True)
class ChartSpec:
    table: str
    label: str
    bars: tuple[tuple[str, str], ...]
    unit: str = ""


CHARTS = {
    "household-coverage": ChartSpec("by_village", "village", (("rate", "覆盖率"),), "%"),
    "employment-scale": ChartSpec("by_destination", "category",
                                  (("total_now", "本期"), ("total_base", "基期")), "人"),
    "subsidies": ChartSpec("absorption_by_employer", "employer", (("amount", "金额"),), "元"),
}


def chart(report: Report) -> dict[str, Any] | None:
    """Bars for the report's chart, scaled to the largest value (drawn as SVG, no script)."""
    spec = CHARTS.get(report.name)
    if spec is None:
        return None
    table = next((t for t in report.tables if t.key == spec.table), None)
    if table is None or not table.rows:
        return None
    top = max((float(row.get(key) or 0) for row in table.rows for key, _ in spec.bars),
              default=0) or 1
    rows = [{"label": str(row.get(spec.label, "")),
             "bars": [{"name": name, "value": row.get(key) or 0,
                       "width": round(300 * float(row.get(key) or 0) / top, 1)}
                      for key, name in spec.bars]}
            for row in table.rows]
    return {"title": table.title, "rows": rows, "unit": spec.unit,
            "legend": [name for _, name in spec.bars], "bar_height": 14,
            "row_height": 14 * len(spec.bars) + 10}


def _area_args() -> dict[str, str]:
    """The area picked (``area=kind:code``; older links say ``kind`` and ``code``), by default
    the user's first scope entry."""
    kind, _, code = request.args.get("area", "").partition(":")
    if not code:
        kind, code = request.args.get("kind", ""), request.args.get("code", "")
    code = code.strip()
    if not code:
        code = (list(g.console_user.scope) or ["522731"])[0]
        kind = ""
    if kind not in KINDS:
        kind = {6: "county", 9: "township", 12: "village"}.get(len(code), "county")
    out = {kind: code}
    if request.args.get("on"):
        out["on"] = request.args["on"]
    return out


def _choices() -> tuple[list[Area], list[Area]]:
    """The counties, townships and villages the user may pick, with their names."""
    conn = open_reader(current_app.config["STORAGE_URL"])
    try:
        return area_choices(conn, user_scope(g.console_user), list(g.console_user.scope))
    finally:
        conn.close()


@bp.get("/reports")
def index():  # type: ignore[no-untyped-def]
    name = request.args.get("name", "household-coverage")
    area = _area_args()
    policy = current_policy()
    if not area.get("on"):
        # Today outside every period would show a page of zeros: offer a day in force.
        area["on"] = policy.default_day(dt.date.today()).isoformat()
    report, error = None, None
    if name in REPORTS:
        try:
            # On screen ID numbers are masked; the downloads carry them in full.
            report = mask_id_numbers(compute_report(name, area, g.console_user))
        except ApiError as err:
            error = err.message
    else:
        error = "没有这个报表"
    kind, code = next(iter(area.items()))
    counties, townships = _choices()
    values = {a.value for a in counties} | {t.value for t in townships if t.whole} | {
        v.value for t in townships for v in t.villages}
    if f"{kind}:{code}" not in values:  # an old link or a code not known yet: keep it shown
        counties.insert(0, Area(kind, code, code))
    return render_template("console/reports.html", titles=TITLES, name=name, area=area,
                           kind=kind, code=code, picked=f"{kind}:{code}", counties=counties,
                           townships=townships, report=report, error=error,
                           chart=chart(report) if report else None, page_rows=PAGE_ROWS,
                           on=area["on"], last_day=policy.last_day.isoformat())


@bp.get("/reports/<name>/download")
def download(name: str):  # type: ignore[no-untyped-def]
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("csv", "xlsx"):
        fmt = "xlsx"
    report = compute_report(name, {**_area_args(), "format": fmt}, g.console_user)
    body, media_type = render(report, fmt)
    return Response(body, mimetype=media_type,
                    headers={"Content-Disposition": attachment(report, fmt)})
