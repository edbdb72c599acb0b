"""The demo's national procurement API: one Pemda's procurement reaches the hub through the
INAPROC stand-in (estate/inaproc.py) instead of its SiRUP/SPSE database.

The stand-in serves that Pemda's legacy procurement database as the national API would
(`LegacyProcurement`: read at each request, so what the simulator writes there is what the
API answers next): RUP packages with their budget rows (`anggaran`), tenders with their
packages (`paket`) and participants (`peserta`), in v1's field names. `route_through_api`
rewrites the estate's mappings to match: the Pemda's BPBJ database keeps what the API does
not serve (package history, schedules, contracts, addenda) and an `http-json` source reads
the rest from the API.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from estate.legacy.formats import FLAVOUR_D_REGION
from estate.mappings import procurement_map, to_toml
from estate.writers import pg_dsn

API_REGION = FLAVOUR_D_REGION  # Sumba Barat Daya's LPSE runs the national SPSE
API_ENTITIES = ("procurement_package", "package_budget_row", "tender", "tender_package", "bid")
KEY_ENV = "RANTAI_INAPROC_API_KEY"
DEMO_KEY = "rantai-demo-inaproc-key"

_RUP = """
SELECT p.kd_rup, p.tahun AS tahun_anggaran, p.kd_satker, p.kd_satker_str, p.nama_satker,
       p.nama_paket, p.pagu, p.metode_pengadaan, p.jenis_pengadaan, p.sumber_dana,
       p.tgl_umumkan AS tgl_pengumuman_paket, p.status_umumkan,
       greatest(p.updated_at, max(a.updated_at)) AS updated_at,
       coalesce(json_agg(json_build_object('mak', a.mak, 'pagu', a.pagu) ORDER BY a.id)
                FILTER (WHERE a.id IS NOT NULL), '[]') AS anggaran
FROM rup_paket p LEFT JOIN rup_anggaran a ON a.kd_rup = p.kd_rup
WHERE p.tahun = $1
GROUP BY p.kd_rup
"""
_TENDER = """
SELECT t.kd_tender, t.tahun AS tahun_anggaran, t.nama_paket, t.hps, t.pagu, t.mtd_pemilihan,
       t.status_tender, t.versi_tender, t.tgl_pengumuman_tender,
       greatest(t.auditupdate,
                (SELECT max(s.auditupdate) FROM spse_peserta s WHERE s.kd_tender = t.kd_tender),
                (SELECT max(l.auditupdate) FROM spse_tender_rup l WHERE l.kd_tender = t.kd_tender)
       ) AS updated_at,
       coalesce((SELECT json_agg(json_build_object('kd_rup', l.kd_rup) ORDER BY l.kd_rup)
                 FROM spse_tender_rup l WHERE l.kd_tender = t.kd_tender), '[]') AS paket,
       coalesce((SELECT json_agg(json_build_object(
                    'kd_penyedia', s.kd_penyedia, 'nama_penyedia', s.nama_penyedia,
                    'npwp_penyedia_16', s.npwp, 'nilai_penawaran', s.nilai_penawaran,
                    'nilai_terkoreksi', s.nilai_terkoreksi, 'pemenang', s.pemenang)
                    ORDER BY s.kd_penyedia)
                 FROM spse_peserta s WHERE s.kd_tender = t.kd_tender), '[]') AS peserta
FROM spse_tender t
WHERE t.tahun = $1
"""
# `updated_at` as the API writes it (`_json_value`), so that `since` compares as in
# `estate.inaproc.select_page`: as text, absent first.
_STAMP = "coalesce(to_char(r.updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '') COLLATE \"C\""
_WHERE = f"WHERE $2::text IS NULL OR {_STAMP} > $2::text"
_PAGE = (
    "SELECT r.*, count(*) OVER () AS total_ FROM ({records}) r "
    + _WHERE
    + f' ORDER BY {_STAMP}, r.{{code}}::text COLLATE "C" OFFSET $3 LIMIT $4'
)
_COUNT = "SELECT count(*) FROM ({records}) r " + _WHERE


def kode_klpd(region: str) -> str:
    """The stand-in's code of a Pemda (`D` and the Kemendagri digits: D5318)."""
    return "D" + region.replace(".", "")


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] == "[":
        return json.loads(value)  # json_agg's arrays
    return value


class LegacyProcurement:
    """A Pemda's SiRUP/SPSE database served as the national API's records."""

    def __init__(self, database_url: str, region: str) -> None:
        self.dsn = pg_dsn(database_url)
        self.region = region
        self._pool: asyncpg.Pool | None = None

    def accepts(self, kode: str | None, tahun: str | None) -> bool:
        return kode == kode_klpd(self.region) and bool(tahun) and str(tahun).isdigit()

    async def records(self, kind: str, tahun: int) -> list[dict[str, Any]]:
        """Every record of `kind` of the year (what `page` pages through)."""
        rows = await self._fetch(_RUP if kind == "rup" else _TENDER, tahun)
        return [self._record(kind, row) for row in rows]

    async def page(
        self, kind: str, tahun: int, since: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """`estate.inaproc.select_page` in SQL: the database filters, orders and cuts the
        page, so a page costs its rows, not the year's (a province-sized Pemda has 12,000
        packages a year, read in 24 pages)."""
        query = _PAGE.format(records=_RUP if kind == "rup" else _TENDER,
                             code="kd_rup" if kind == "rup" else "kd_tender")  # fmt: skip
        rows = await self._fetch(query, tahun, since, offset, limit)
        if rows:
            return [self._record(kind, row) for row in rows], int(rows[0]["total_"])
        total = await self._fetch(_COUNT.format(records=_RUP if kind == "rup" else _TENDER),
                                  tahun, since)  # fmt: skip
        return [], int(total[0][0])

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        return list(await self._pool.fetch(query, *args))

    def _record(self, kind: str, row: asyncpg.Record) -> dict[str, Any]:
        record = {k: _json_value(v) for k, v in dict(row).items() if k != "total_"}
        code = "kd_rup" if kind == "rup" else "kd_tender"
        record["kd_klpd"] = kode_klpd(self.region)
        record[code] = str(record[code])
        return record

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def inaproc_mapping(region: str, url: str, years: list[int]) -> str:
    """The http-json mapping reading the Pemda's procurement from the national API, one
    stream per fiscal year and entity."""
    rc = region.replace(".", "")
    lines = [
        "# The national procurement API (INAPROC v1) for this Pemda: RUP packages with their",
        "# budget rows, tenders with their packages and participants. Its stand-in runs with",
        "# `rantai demo`; the key comes from the environment (the demo sets it).",
        "[source]",
        f'id = "inaproc-{rc}"',
        f'name = "INAPROC API v1 — {region}"',
        'kind = "http-json"',
        f'url = "{url}"',
        f'region = "{region}"',
        f'api_key = "${{{KEY_ENV}}}"',
        'api_key_header = "X-API-Key"',
        "retry_budget = 8",
        "max_backoff_seconds = 5",
        "read_timeout_seconds = 20",
        "timeout_seconds = 60",
    ]
    streams = [
        ("procurement_package", "/rup/paket-penyedia", None, {
            "rup_code": '"kd_rup"', "fiscal_year": '"tahun_anggaran"', "name": '"nama_paket"',
            "opd_code": '"kd_satker_str"', "method": '"metode_pengadaan"',
            "category": '"jenis_pengadaan"', "ceiling": '"pagu"',
            "funding_source": '"sumber_dana"', "announced_on": '"tgl_pengumuman_paket"',
        }),
        ("package_budget_row", "/rup/paket-penyedia", "anggaran", {
            "rup_code": '"kd_rup"', "mak": '"anggaran.mak"', "amount": '"anggaran.pagu"',
        }),
        ("tender", "/tender/pengumuman", None, {
            "code": '"kd_tender"', "name": '"nama_paket"', "method": '"mtd_pemilihan"',
            "owner_estimate": '"hps"', "ceiling": '"pagu"', "status": '"status_tender"',
            "version": '"versi_tender"', "announced_on": '"tgl_pengumuman_tender"',
        }),
        ("tender_package", "/tender/pengumuman", "paket", {
            "tender_code": '"kd_tender"', "rup_code": '"paket.kd_rup"',
        }),
        ("bid", "/tender/pengumuman", "peserta", {
            "tender_code": '"kd_tender"', "vendor_key": '"peserta.npwp_penyedia_16"',
            "vendor_name": '"peserta.nama_penyedia"',
            "vendor_tax_id": '"peserta.npwp_penyedia_16"',
            "amount": '"peserta.nilai_penawaran"',
            "corrected_amount": '"peserta.nilai_terkoreksi"',
            "is_winner": '"peserta.pemenang"',
        }),
    ]  # fmt: skip
    for year in years:
        for entity, path, each, fields in streams:
            lines += [
                "",
                "[[entity]]",
                f'name = "{entity}"',
                f'path = "{path}"',
                f'params = {{ kode_klpd = "{kode_klpd(region)}", tahun = {year} }}',
                'records = "data"',
                'paging = "cursor"',
                "limit = 500",
            ]
            if each:
                lines.append(f'each = "{each}"')
            if entity in ("procurement_package", "tender"):
                lines += ['watermark = "updated_at"', 'since_param = "updated_since"']
            lines += ["", "[entity.fields]"]
            lines += [f"{name} = {value}" for name, value in fields.items()]
            if entity in ("procurement_package", "tender"):
                lines.append(f'region_code = {{ const = "{region}" }}')
    return "\n".join(lines) + "\n"


def route_through_api(data_dir: Path, url: str, region: str = API_REGION) -> str:
    """Rewrite the estate's mappings so that `region`'s procurement is read from the
    national API at `url` (its BPBJ database keeps the rest); the new source's id. Writing
    it again changes nothing."""
    rc = region.replace(".", "")
    manifest = json.loads((data_dir / "estate-manifest.json").read_text())
    bpbj = manifest["sources"][f"bpbj-{rc}"]
    kept = procurement_map(region, bpbj["url"])
    moved = [e for e in kept.entities if e.name in API_ENTITIES]
    kept.entities = [e for e in kept.entities if e.name not in API_ENTITIES]
    kept.comment += (
        "\nRUP packages, their budget rows, tenders and participants come from the national "
        f"API instead (inaproc-{rc}.toml)."
    )
    mappings = data_dir / "mappings"
    (mappings / f"bpbj-{rc}.toml").write_text(to_toml(kept), encoding="utf-8")
    years = [int(y) for y in manifest["fiscal_years"]]
    source_id = f"inaproc-{rc}"
    (mappings / f"{source_id}.toml").write_text(
        inaproc_mapping(region, url, years), encoding="utf-8"
    )
    # The simulator keeps the moved tables' updated-at columns current, as before (the
    # API's `updated_at` is read from them).
    bpbj["national_api"] = {
        "source": source_id,
        "watermarks": {e.table: e.watermark for e in moved if e.table},
    }
    manifest_path = data_dir / "estate-manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    config = data_dir / "rantai.toml"
    text = config.read_text(encoding="utf-8")
    entry = f'mapping = "mappings/{source_id}.toml"'
    if entry not in text:
        config.write_text(text.rstrip("\n") + f"\n\n[[source]]\n{entry}\n", encoding="utf-8")
    return source_id
