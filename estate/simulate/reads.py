"""What the changes read from the sources: SPSE's contracts of the year with their packages'
maks, and BPKAD's DPA lines and payments per contract."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapters.codes import normalise_account_code, split_mak
from estate.simulate.formats import DPA_SQL, SP2D, canonical_account, digits_of, legacy_date, rupiah
from estate.simulate.sources import Finance


@dataclass(frozen=True)
class SpseContract:
    number: str
    tender_code: int
    value: int  # signed value
    effective: int  # highest-version addendum, else the signed value
    version: int  # highest addendum version, 0 without one
    signed_on: date
    starts_on: date
    ends_on: date
    vendor_name: str
    vendor_npwp: str | None  # digits only
    maks: tuple[str, ...]  # of its packages, by kd_rup: the first one is paid against

    @property
    def sa_codes(self) -> list[str]:
        return sorted({split_mak(mak)[0] for mak in self.maks})


async def has_table(conn: Any, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table))


# Set-based (one hash join per table): the legacy tables have no index on the codes they
# are joined by, and a lookup per contract scanned every budget row (1.6 s a read for one
# regency at NTT scale, most of the PostgreSQL server's time under the simulator).
CONTRACTS_SQL = """
WITH maks AS (
    SELECT l.kd_tender, array_agg(g.mak ORDER BY g.kd_rup, g.id) AS maks
    FROM spse_tender_rup l JOIN rup_anggaran g ON g.kd_rup = l.kd_rup GROUP BY l.kd_tender
), latest AS (
    SELECT DISTINCT ON (d.no_kontrak) d.no_kontrak, d.nilai, d.versi_addendum
    FROM spse_addendum d ORDER BY d.no_kontrak, d.versi_addendum DESC
)
SELECT k.no_kontrak, k.kd_tender, k.nilai_kontrak, k.tgl_kontrak, k.tgl_mulai, k.tgl_selesai,
       k.nama_penyedia, k.npwp_penyedia, a.nilai AS efektif, a.versi_addendum AS versi,
       coalesce(m.maks, '{}') AS maks
FROM spse_kontrak k
JOIN spse_tender t ON t.kd_tender = k.kd_tender
LEFT JOIN latest a ON a.no_kontrak = k.no_kontrak
LEFT JOIN maks m ON m.kd_tender = k.kd_tender
WHERE t.tahun = $1
"""


async def read_contracts(conn: Any, fiscal_year: int) -> list[SpseContract]:
    out: list[SpseContract] = []
    for row in await conn.fetch(CONTRACTS_SQL, fiscal_year):
        value = rupiah(row["nilai_kontrak"])
        out.append(
            SpseContract(
                number=row["no_kontrak"],
                tender_code=int(row["kd_tender"]),
                value=value,
                effective=value if row["efektif"] is None else rupiah(row["efektif"]),
                version=int(row["versi"] or 0),
                signed_on=legacy_date(row["tgl_kontrak"]),
                starts_on=legacy_date(row["tgl_mulai"]),
                ends_on=legacy_date(row["tgl_selesai"]),
                vendor_name=row["nama_penyedia"],
                vendor_npwp=digits_of(row["npwp_penyedia"]),
                maks=tuple(row["maks"] or ()),
            )
        )
    out.sort(key=lambda c: c.number)
    return out


async def paid_by_contract(finance: Finance, fiscal_year: int) -> dict[str, int]:
    shape = SP2D[finance.flavour]
    rows = await finance.fetch(
        f"SELECT {shape.contract}, {shape.amount} FROM sp2d "
        f"WHERE tahun = ? AND {shape.contract} IS NOT NULL",
        fiscal_year,
    )
    paid: dict[str, int] = defaultdict(int)
    for number, amount in rows:
        paid[str(number)] += rupiah(amount)
    return paid


async def read_dpa_lines(finance: Finance, fiscal_year: int) -> list[tuple[str, str, int, str]]:
    """The year's DPA lines: (sa as written, canonical account, amount, DPA no.)."""
    f = finance.flavour
    lines: list[tuple[str, str, int, str]] = []
    for row in await finance.fetch(DPA_SQL[f], fiscal_year):
        if f == "B":
            sa_text, parts, amount, dpa = row[0], row[1:7], row[7], row[8]
            account = normalise_account_code(".".join(str(p) for p in parts))
        else:
            sa_text, raw_account, amount, dpa = row
            account = canonical_account(f, str(raw_account))
        lines.append((str(sa_text), account, rupiah(amount), str(dpa)))
    return lines
