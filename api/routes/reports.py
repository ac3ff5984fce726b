"""Reports per commune, health centre and province: QR deployment, screening per
checkpoint, epidemiology per commune and day, flags by rule and status. JSON, or CSV
(`?format=csv`, the `rows`; `&part=daily` for the per-day series)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from dichte.api.deps import Reports, Staff
from dichte.api.errors import documented
from dichte.domain.reports import ReportKind, as_csv

router = APIRouter(tags=["reports"])


@router.get(
    "/reports/{kind}",
    responses={
        200: {
            "description": "The report: `rows` and `daily`, or CSV of one of them",
            "content": {"application/json": {}, "text/csv": {}},
        },
        **documented(401, 403, 404, 422, 503),
    },
)
async def report(
    kind: ReportKind,
    reports: Reports,
    staff: Staff,
    unit: Annotated[
        str | None,
        Query(max_length=40, description="commune-<code>, centre-<code> or province-<code>"),
    ] = None,
    start: Annotated[date | None, Query(alias="from", description="First day (Vietnam)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included")] = None,
    format: Literal["json", "csv"] = "json",
    part: Literal["rows", "daily"] = "rows",
) -> Any:
    """The period defaults to the 30 days ending today; the unit to the caller's own."""
    scope = reports.scope(staff, unit, kind)
    answer = await reports.report(kind, scope, reports.period(start, end))
    if format == "json":
        return answer
    name = f"{kind.value}_{scope}_{answer['from']}_{answer['to']}-{part}.csv"
    return Response(
        as_csv(answer[part]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
