"""The report routes' part of the OpenAPI description (merged into ``docs.SPEC``)."""

from __future__ import annotations

from typing import Any

from ..reporting import REPORTS
from ..reporting.params import EXTRA

_ERROR = {"$ref": "#/components/responses/Error"}
_PERSON = [{"basicAuth": []}, {"bearerAuth": []}]


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_EXTRA_PARAMS = {p.name: p for params in EXTRA.values() for p in params}

PATHS: dict[str, Any] = {
    "/api/v1/reports": {"get": {
        "summary": "The policy reports, their parameters and the policy parameters in force",
        "security": _PERSON,
        "responses": {"200": {"description": "reports and policy"}, "401": _ERROR,
                      "429": _ERROR}}},
    "/api/v1/reports/{name}": {"get": {
        "summary": "One report for a village, township or county (JSON, CSV or XLSX ledger); "
                   "exactly one of village, township, county",
        "security": _PERSON,
        "parameters": [
            {"name": "name", "in": "path", "required": True, "description": "report",
             "schema": {"type": "string", "enum": sorted(REPORTS)}},
            _query("village", "12-digit village code", {"type": "string"}),
            _query("township", "9-digit township code", {"type": "string"}),
            _query("county", "6-digit county code", {"type": "string"}),
            _query("format", "json (default), csv or xlsx",
                   {"type": "string", "enum": ["json", "csv", "xlsx"]}),
            _query("on", "report day (default: today)", {"type": "string", "format": "date"}),
            *[_query(p.name, f"{p.help} (reports: "
                     + ", ".join(n for n, ps in EXTRA.items() if p in ps) + ")",
                     {"type": "string", "example": p.example})
              for p in _EXTRA_PARAMS.values()],
        ],
        "responses": {"200": {"description": "the report", "content": {
            "application/json": {}, "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
            "400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR, "429": _ERROR}}},
}
