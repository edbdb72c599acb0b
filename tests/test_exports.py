"""Excel and CSV downloads of the dashboard's lists: `GET /export/{view}.xlsx|.csv` with
the mirrored GraphQL field's filters, typed cells, a header block, the viewer's scope, and
totals equal to GraphQL's (read back with openpyxl)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import openpyxl
import pytest

from hub.serving.app import create_app
from hub.serving.opendata import exports
from hub.settings import Settings
from tests.conftest import Api, running

HEADER_ROWS = 7  # title, filter, time, viewer, source, blank, headers


def workbook(content: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(content)).active


def table(sheet: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    rows = list(sheet.iter_rows(values_only=True))
    return list(rows[HEADER_ROWS - 1]), rows[HEADER_ROWS:]


async def all_nodes(api: Api, query: str, variables: dict[str, Any], root: str) -> list[Any]:
    nodes: list[Any] = []
    after = None
    while True:
        data = await api.data(query, {**variables, "after": after})
        connection = data[root]
        nodes += [e["node"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]


SUBS = """query ($filter: SubActivityFilter!, $after: String) {
  subActivities(filter: $filter, first: 500, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { code plannedAmount budget { allocated paid } } }
  }
}"""


async def test_the_file_name_is_an_ascii_slug_of_the_filter(api: Api) -> None:
    """A filter value with a quote, a line break or non-ASCII letters never reaches the
    Content-Disposition header as it is."""
    response = await api.client.get(
        "/export/sub-kegiatan.csv",
        params={"fiscalYear": "2025", "search": 'Jalan "Kupang"\r\nX-Evil: 1 — Ende'},
    )
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert (
        disposition
        == 'attachment; filename="rantai-sub-kegiatan-2025-Jalan_Kupang_X-Evil_1_Ende.csv"'
    )
    assert "x-evil" not in response.headers


async def test_the_sub_kegiatan_workbook_has_graphqls_rows_and_totals(api: Api) -> None:
    response = await api.client.get(
        "/export/sub-kegiatan.xlsx", params={"fiscalYear": "2025", "regionCode": "53.01"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert (
        'filename="rantai-sub-kegiatan-2025-53.01.xlsx"' in response.headers["content-disposition"]
    )
    sheet = workbook(response.content)
    assert sheet["A1"].value == "Rantai — Sub kegiatan"
    assert sheet["B2"].value == "Tahun anggaran 2025; Kode wilayah 53.01"
    assert isinstance(sheet["B3"].value, datetime)  # the time of the export, as a date
    headers, rows = table(sheet)
    assert headers[:2] == ["Kode sub kegiatan", "Sub kegiatan"]
    nodes = await all_nodes(api, SUBS, {"filter": {"fiscalYear": 2025, "regionCode": "53.01"}},
                            "subActivities")  # fmt: skip
    assert len(rows) == len(nodes) == int(response.headers["x-total-count"]) > 100
    assert [r[0] for r in rows] == [n["code"] for n in nodes]
    dpa = headers.index("DPA")
    assert sum(Decimal(str(r[dpa])) for r in rows) == sum(
        Decimal(n["budget"]["allocated"]) for n in nodes
    )
    money = sheet.cell(row=HEADER_ROWS + 1, column=dpa + 1)
    assert isinstance(money.value, int | float)
    assert "Rp" in money.number_format
    assert "#,##0" in money.number_format


async def test_the_csv_has_the_same_rows_and_totals(api: Api) -> None:
    params = {"fiscalYear": "2025", "regionCode": "53.01"}
    xlsx = await api.client.get("/export/sub-kegiatan.xlsx", params=params)
    response = await api.client.get("/export/sub-kegiatan.csv", params=params)
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    reader = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    headers, rows = reader[0], reader[1:]
    sheet_headers, sheet_rows = table(workbook(xlsx.content))
    assert headers == sheet_headers
    assert len(rows) == len(sheet_rows)
    paid = headers.index("Realisasi (SP2D)")
    assert sum(Decimal(r[paid] or 0) for r in rows) == sum(
        Decimal(str(r[paid] or 0)) for r in sheet_rows
    )


PEMDA = """query ($fy: Int!) { regions { code summary(fiscalYear: $fy) { allocated paid
  openDiscrepancies } } }"""


async def test_the_pemda_and_opd_workbooks_total_as_graphql(api: Api) -> None:
    sheet = workbook((await api.client.get("/export/pemda.xlsx?fiscalYear=2025")).content)
    headers, rows = table(sheet)
    regions = (await api.data(PEMDA, {"fy": 2025}))["regions"]
    assert [r[0] for r in rows] == [r["code"] for r in regions]
    assert sum(Decimal(str(r[headers.index("DPA")])) for r in rows) == sum(
        Decimal(r["summary"]["allocated"]) for r in regions
    )
    opds = workbook(
        (await api.client.get("/export/opd.xlsx?fiscalYear=2025&regionCode=53.01")).content
    )
    opd_headers, opd_rows = table(opds)
    query = 'query { region(code: "53.01") { summary(fiscalYear: 2025) { paid } } }'
    region = (await api.data(query))["region"]
    assert opd_rows
    assert sum(Decimal(str(r[opd_headers.index("Realisasi (SP2D)")] or 0)) for r in opd_rows) == (
        Decimal(region["summary"]["paid"])
    )


async def test_a_large_download_streams_page_by_page(
    store_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "PAGE", 50)
    app = create_app(store_url, settings)
    async with running(app) as port, httpx.AsyncClient(timeout=60) as client:
        url = f"http://127.0.0.1:{port}/export/sub-kegiatan.csv"
        async with client.stream("GET", url, params={"fiscalYear": "2025"}) as response:
            chunks = [chunk async for chunk in response.aiter_raw() if chunk]
    total = int(response.headers["x-total-count"])
    assert total >= 500
    assert response.headers.get("transfer-encoding") == "chunked"
    assert len(chunks) >= total // 50  # each GraphQL page leaves as it arrives
    assert b"".join(chunks).decode("utf-8-sig").count("\r\n") == total + 1


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/export/sub-kegiatan.xlsx", 400, "BAD_USER_INPUT"),  # fiscalYear is required
        ("/export/sub-kegiatan.xlsx?fiscalYear=dua", 400, "BAD_USER_INPUT"),
        ("/export/sub-kegiatan.xlsx?fiscalYear=2025&colour=red", 400, "BAD_USER_INPUT"),
        ("/export/sub-kegiatan.xlsx?fiscalYear=2025&stage=DONE", 400, "BAD_USER_INPUT"),
        ("/export/kontrak.xlsx?fiscalYear=2025", 404, "NOT_FOUND"),
        ("/export/opd.pdf?fiscalYear=2025&regionCode=53", 404, "NOT_FOUND"),
        ("/export/opd.xlsx?fiscalYear=2025&regionCode=99", 404, "NOT_FOUND"),
    ],
)
async def test_a_bad_download_request_is_refused_with_its_code(
    api: Api, path: str, status: int, code: str
) -> None:
    response = await api.client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code
