"""The agenda (E-Jadwal) as an iCalendar feed: `GET /agenda/{regionCode}.ics` and
`/agenda/{regionCode}/{opdCode}.ics`, for calendar apps and regency apps to subscribe to.

Calendar clients cannot send headers, so a scoped feed takes a feed token in its URL
(`?token=rk_…`, made with `rantai keys create … --feed`): it reads the feed and nothing else,
and /graphql refuses it (hub/auth/guard.py); no token gives the public's agenda. The feed is
built from the `agenda` answer `Api.handle` gives that viewer (decision 31), from 60 days
back to 300 ahead. The RFC 5545 text is written here (all-day events, escaped, folded
at 75 octets, CRLF), as the XLSX writer is: the API process loads no calendar library.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hub.reference.clock import PROVINCE_ZONE, province_today
from hub.serving.http import client_address
from hub.serving.opendata.pages import ExportFailed, query
from hub.serving.opendata.routes import bad_request, refused, viewer_from

BACK, AHEAD = 60, 300
DOCUMENT = """query Feed($region: String!, $opd: String, $from: Date!, $to: Date!,
    $withOpd: Boolean!, $opdCode: String!) {
  region(code: $region) { code name }
  opd(regionCode: $region, code: $opdCode) @include(if: $withOpd) { code name }
  agenda(regionCode: $region, opdCode: $opd, from: $from, to: $to) {
    kind date title late subjectId opd { code name } }
}"""
LABELS = {
    "TENDER_STAGE": "Jadwal tender",
    "CONTRACT_END": "Akhir kontrak",
    "MONEV_DEADLINE": "e-Monev",
    "FOLLOW_UP_DUE": "Tindak lanjut",
    "DPA_MILESTONE": "Realisasi DPA",
}


def escape(value: str) -> str:
    """TEXT as RFC 5545 writes it: a line break (CRLF, CR or LF) as `\\n`, no other control
    characters (a bare CR in a legacy string must never start a line of its own)."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return "".join(ch for ch in value if ch == "\t" or (ch >= " " and ch != "\x7f"))


def fold(line: str) -> str:
    """A content line folded at 75 octets (continuations start with a space)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start, width = [], 0, 75
    while start < len(data):
        end = min(start + width, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split a character
            end -= 1
        parts.append(data[start:end].decode())
        start, width = end, 74
    return "\r\n ".join(parts)


def calendar(name: str, items: list[dict[str, Any]], now: datetime) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Rantai//E-Jadwal//ID",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
        f"X-WR-TIMEZONE:{PROVINCE_ZONE.key}",
    ]
    for item in items:
        day = date.fromisoformat(item["date"])
        late = " (terlambat)" if item["late"] else ""
        opd = item.get("opd") or {}
        uid = f"{item['kind']}-{item['subjectId']}-{day.isoformat()}@rantai"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{escape(uid)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{day.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(day + timedelta(days=1)).strftime('%Y%m%d')}",
            f"SUMMARY:{escape(item['title'] + late)}",
            f"CATEGORIES:{escape(LABELS[item['kind']])}",
            "DESCRIPTION:"
            + escape(
                f"{LABELS[item['kind']]}. OPD: {opd.get('name') or '-'}. "
                f"Objek: {item['subjectId']}."
            ),
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


async def agenda_feed(request: Request) -> Response:
    region_code = request.path_params["region"]
    opd_code = request.path_params.get("opd")
    token = request.query_params.get("token")
    viewer = await viewer_from(request, f"Bearer {token}" if token else None, feed=True)
    if isinstance(viewer, Response):
        return viewer
    today = province_today()
    variables = {
        "region": region_code, "opd": opd_code, "withOpd": opd_code is not None,
        "opdCode": opd_code or "", "from": (today - timedelta(days=BACK)).isoformat(),
        "to": (today + timedelta(days=AHEAD)).isoformat(),
    }  # fmt: skip
    try:
        data = await query(
            request.app.state.api, viewer, DOCUMENT, variables, client=client_address(request)
        )
    except ExportFailed as failure:
        return refused(failure)
    region = data.get("region")
    if region is None:
        return bad_request(f"No Pemda {region_code!r} this feed may show.", 404)
    name = f"Agenda {region['name']}"
    if opd_code is not None:
        opd = data.get("opd")
        if opd is None:
            return bad_request(f"No OPD {opd_code!r} of {region_code} this feed may show.", 404)
        name = f"Agenda {opd['name']} ({region['name']})"
    body = calendar(name, data["agenda"], datetime.now(UTC))
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
