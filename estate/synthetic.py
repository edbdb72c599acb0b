"""A deterministic synthetic canonical store, shaped like DOMAIN.md, for tests and benchmarks.

It writes canonical rows straight into the store with COPY (the legacy estate and the sync
engine are another path). The same seed always gives the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

SOURCES = [
    ("ref-kemendagri", "Kode wilayah Kemendagri", "reference"),
    ("bappeda-eplanning", "Bappeda e-Planning (SIPD)", "postgresql"),
    ("bpkad-keuangan", "BPKAD e-Budgeting dan SP2D", "mariadb"),
    ("bpbj-spse", "BPBJ SiRUP/SPSE", "postgresql"),
    ("monev-sheets", "e-Monev Form A", "spreadsheet"),
]

REGIONS = [
    ("53", "Provinsi Nusa Tenggara Timur", "PROVINCE", None),
    ("53.01", "Kabupaten Kupang", "REGENCY", "53"),
    ("53.71", "Kota Kupang", "CITY", "53"),
]

# (bidang urusan, OPD name, program names)
OPD_KINDS = [
    (
        "1.01",
        "Dinas Pendidikan dan Kebudayaan",
        ["Pengelolaan Pendidikan", "Pengembangan Kurikulum"],
    ),
    ("1.02", "Dinas Kesehatan", ["Pemenuhan Upaya Kesehatan", "Sumber Daya Manusia Kesehatan"]),
    (
        "1.03",
        "Dinas Pekerjaan Umum dan Penataan Ruang",
        ["Pengelolaan Sumber Daya Air", "Penyelenggaraan Jalan"],
    ),
    (
        "1.04",
        "Dinas Perumahan Rakyat dan Kawasan Permukiman",
        ["Pengembangan Perumahan", "Kawasan Permukiman"],
    ),
    ("1.05", "Satuan Polisi Pamong Praja", ["Peningkatan Ketenteraman dan Ketertiban Umum"]),
    ("1.06", "Dinas Sosial", ["Rehabilitasi Sosial", "Perlindungan dan Jaminan Sosial"]),
    ("2.07", "Dinas Tenaga Kerja dan Transmigrasi", ["Pelatihan Kerja dan Produktivitas"]),
    ("2.09", "Dinas Ketahanan Pangan", ["Peningkatan Diversifikasi dan Ketahanan Pangan"]),
    ("2.11", "Dinas Lingkungan Hidup", ["Pengendalian Pencemaran Lingkungan Hidup"]),
    ("2.15", "Dinas Perhubungan", ["Penyelenggaraan Lalu Lintas dan Angkutan Jalan"]),
    ("2.16", "Dinas Komunikasi dan Informatika", ["Pengelolaan Aplikasi Informatika"]),
    ("2.17", "Dinas Koperasi dan UKM", ["Pemberdayaan Usaha Menengah, Kecil dan Mikro"]),
    ("3.25", "Dinas Kelautan dan Perikanan", ["Pengelolaan Perikanan Tangkap"]),
    ("3.26", "Dinas Pariwisata", ["Peningkatan Daya Tarik Destinasi Pariwisata"]),
    ("3.27", "Dinas Pertanian dan Perkebunan", ["Penyediaan dan Pengembangan Sarana Pertanian"]),
    ("5.01", "Badan Perencanaan Pembangunan Daerah", ["Perencanaan, Pengendalian dan Evaluasi"]),
    ("5.02", "Badan Pendapatan dan Aset Daerah", ["Pengelolaan Keuangan Daerah"]),
]

WORKS = [
    "Rehabilitasi",
    "Pembangunan",
    "Peningkatan",
    "Pemeliharaan",
    "Pengadaan",
    "Penyusunan",
    "Pelatihan",
    "Pendampingan",
    "Fasilitasi",
    "Koordinasi",
]
OBJECTS = [
    "Jalan Provinsi Ruas Kupang–Baun",
    "Jaringan Irigasi Bendung Tilong",
    "Puskesmas Oesao",
    "Sekolah Menengah Atas Negeri 3 Soe",
    "Embung Desa Oelnasi",
    "Sarana Air Bersih Desa Noelbaki",
    "Gedung Kantor Dinas",
    "Sistem Informasi Perencanaan",
    "Dokumen Rencana Kerja",
    "Jembatan Noelmina",
    "Rumah Layak Huni",
    "Pelabuhan Perikanan Tenau",
    "Pasar Inpres Naikoten",
    "Alat Kesehatan RSUD",
    "Bibit Jagung Hibrida",
    "Kapal Penangkap Ikan",
]
VENDOR_PREFIX = ["CV.", "PT.", "CV.", "CV."]
VENDOR_WORDS = [
    "Flobamora",
    "Timor",
    "Sasando",
    "Kelimutu",
    "Komodo",
    "Nusa",
    "Lontar",
    "Cendana",
    "Karya",
    "Jaya",
    "Mandiri",
    "Sejahtera",
    "Bangun",
    "Persada",
    "Abadi",
    "Konstruksi",
]
ACCOUNTS = [
    ("5.1.02.01.01.0024", "Belanja Alat/Bahan untuk Kegiatan Kantor-Alat Tulis Kantor"),
    ("5.1.02.02.01.0026", "Belanja Jasa Tenaga Administrasi"),
    ("5.1.02.04.01.0001", "Belanja Perjalanan Dinas Biasa"),
    ("5.2.02.05.01.0005", "Belanja Modal Alat Kantor Lainnya"),
    ("5.2.03.01.01.0001", "Belanja Modal Bangunan Gedung Kantor"),
    ("5.2.04.01.01.0003", "Belanja Modal Jalan Kabupaten"),
    ("5.2.04.02.01.0001", "Belanja Modal Jaringan Irigasi"),
]
METHODS = [  # (RUP method, SPSE method or None for E-Purchasing/swakelola, weight)
    # About 17% of RUP packages reach SPSE, ~100 full tenders per province (DOMAIN.md).
    ("E-Purchasing", None, 240),
    ("Pengadaan Langsung", "Pengadaan Langsung", 60),
    ("Tender", "Tender", 2),
    ("Seleksi", "Seleksi", 1),
    ("Penunjukan Langsung", "Penunjukan Langsung", 1),
    ("Dikecualikan", None, 96),
]
CATEGORIES = ["Barang", "Pekerjaan Konstruksi", "Jasa Konsultansi", "Jasa Lainnya"]


@dataclass
class SeedStats:
    counts: dict[str, int] = field(default_factory=dict)
    fiscal_year: int = 2025


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low // 1000, high // 1000) * 1000).quantize(Decimal("0.01"))


class _Rows:
    def __init__(self) -> None:
        self.tables: dict[str, list[tuple[Any, ...]]] = {}
        self.columns: dict[str, Sequence[str]] = {}
        self.known: dict[tuple[str, Any], int] = {}  # natural key → id, for shared parents

    def add(self, table: str, columns: Sequence[str], values: tuple[Any, ...]) -> int:
        """Append a row; its id is its position (the table starts empty)."""
        rows = self.tables.setdefault(table, [])
        self.columns.setdefault(table, ("id", *columns))
        rows.append((len(rows) + 1, *values))
        return len(rows)


async def seed_canonical(
    conn: asyncpg.Connection,
    *,
    sub_activities: int,
    seed: int = 1,
    fiscal_year: int = 2025,
    regions: Sequence[tuple[str, str, str]] | None = None,
) -> SeedStats:
    """Write a store of about `sub_activities` sub-activities with their whole chain.

    `regions` (code, name, level), the province first, replaces the default three Pemda;
    the province then gets half of the sub-activities and its regencies share the rest.
    """
    rng = random.Random(seed)
    now = datetime(fiscal_year, 11, 1, tzinfo=UTC)
    rows = _Rows()
    prov = ("source_id", "source_key", "source_updated_at", "synced_at")

    def p(source: str, key: str) -> tuple[Any, ...]:
        return (source, key, now, now)

    for sid, name, kind in SOURCES:
        await conn.execute(
            "INSERT INTO source (id, name, kind, status, last_synced_at, last_success_at, rows)"
            " VALUES ($1, $2, $3, 'OK', $4, $4, 0) ON CONFLICT (id) DO NOTHING",
            sid,
            name,
            kind,
            datetime.now(UTC),
        )
    region_ids: dict[str, int] = {}
    plan = (
        REGIONS
        if regions is None
        else [
            (c, n, lvl, None if i == 0 else regions[0][0]) for i, (c, n, lvl) in enumerate(regions)
        ]
    )
    for code, name, level, parent in plan:
        region_ids[code] = rows.add(
            "region",
            ("code", "name", "level", "parent_code", "parent_id", *prov),
            (code, name, level, parent, region_ids.get(parent or ""), *p("ref-kemendagri", code)),
        )

    vendors: list[tuple[int, str, str]] = []
    for i in range(max(50, sub_activities // 6)):
        words = " ".join(rng.choice(VENDOR_WORDS) for _ in range(2))
        name = f"{rng.choice(VENDOR_PREFIX)} {words} {i:03d}"
        npwp = f"{rng.randrange(10**14, 10**15)}"
        vid = rows.add(
            "vendor",
            ("vendor_key", "name", "tax_id", *prov),
            (npwp, name, npwp, *p("bpbj-spse", npwp)),
        )
        vendors.append((vid, name, npwp))

    # Spread the sub-activities: half to the province, a quarter to each regency.
    if regions is None:
        shares = {"53": sub_activities // 2, "53.01": sub_activities // 4}
        shares["53.71"] = sub_activities - sum(shares.values())
    else:
        province, *others = [r[0] for r in regions]
        shares = {province: sub_activities // 2}
        for n, code in enumerate(others):
            shares[code] = (sub_activities - sub_activities // 2) // len(others) + (
                n < (sub_activities - sub_activities // 2) % len(others)
            )
    rup_seq = 30_000_000 + seed * 1_000_000
    tender_seq = 10_000 + seed * 100_000
    sp2d_seq = 0
    method_pool = [m for m in METHODS for _ in range(m[2])]

    for region_code, count in shares.items():
        region_id = region_ids[region_code]
        level_digit = 1 if "." not in region_code else 2
        opd_ids: list[tuple[int, str, str]] = []
        for bidang, opd_name, _ in OPD_KINDS:
            code = f"{bidang}.0.00.0.00.01.0000"
            oid = rows.add(
                "opd",
                ("region_id", "code", "name", *prov),
                (region_id, code, opd_name, *p("bappeda-eplanning", f"{region_code}/{code}")),
            )
            opd_ids.append((oid, bidang, code))
        made = 0
        serial = 0
        while made < count:
            for (opd_id, bidang, opd_code), (_, _, programs) in zip(
                opd_ids, OPD_KINDS, strict=True
            ):
                if made >= count:
                    break
                serial += 1
                program_no = 10 + serial % len(programs)
                program_code = f"{bidang}.{program_no:02d}"
                program_key = (region_id, program_code)
                program_id = rows.known.get(("program", program_key))
                if program_id is None:
                    program_id = rows.known[("program", program_key)] = rows.add(
                        "program",
                        ("region_id", "fiscal_year", "code", "name", *prov),
                        (
                            region_id,
                            fiscal_year,
                            program_code,
                            programs[serial % len(programs)],
                            *p("bappeda-eplanning", f"{region_code}/{fiscal_year}/{program_code}"),
                        ),
                    )
                activity_code = f"{program_code}.{level_digit}.{1 + serial % 7:02d}"
                activity_key = (region_id, activity_code)
                activity_id = rows.known.get(("activity", activity_key))
                if activity_id is None:
                    activity_id = rows.known[("activity", activity_key)] = rows.add(
                        "activity",
                        ("region_id", "program_id", "fiscal_year", "code", "name", *prov),
                        (
                            region_id,
                            program_id,
                            fiscal_year,
                            activity_code,
                            f"Kegiatan {rng.choice(WORKS)} {rng.choice(OBJECTS)}",
                            *p("bappeda-eplanning", f"{region_code}/{fiscal_year}/{activity_code}"),
                        ),
                    )
                sa_code = f"{activity_code}.{serial:04d}"
                made += 1
                _chain(
                    rows,
                    rng,
                    p,
                    now,
                    vendors,
                    method_pool,
                    region_id,
                    region_code,
                    (opd_id, opd_code),
                    activity_id,
                    fiscal_year,
                    sa_code,
                    rup_seq + made,
                    tender_seq + made,
                    sp2d_seq,
                )
                rup_seq += 8
                tender_seq += 8
                sp2d_seq += 8

    stats = SeedStats(fiscal_year=fiscal_year)
    from hub.store.models import metadata

    order = [t.name for t in metadata.sorted_tables if t.name in rows.tables]
    for table in order:
        table_rows = rows.tables[table]
        columns = list(rows.columns[table])
        await conn.copy_records_to_table(table, records=table_rows, columns=columns)
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
        stats.counts[table] = len(table_rows)
    await conn.execute("ANALYZE")
    return stats


def _chain(
    rows: _Rows,
    rng: random.Random,
    p: Any,
    now: datetime,
    vendors: list[tuple[int, str, str]],
    method_pool: list[tuple[str, str | None, int]],
    region_id: int,
    region_code: str,
    opd: tuple[int, str],
    activity_id: int,
    fiscal_year: int,
    sa_code: str,
    rup_base: int,
    tender_base: int,
    sp2d_base: int,
) -> None:
    prov = ("source_id", "source_key", "source_updated_at", "synced_at")
    opd_id, opd_code = opd
    sa_ref = ("region_id", "fiscal_year", "sub_activity_code", "sub_activity_id")
    sa_val = (region_id, fiscal_year, sa_code)
    planned = _money(rng, 50_000_000, 5_000_000_000)
    sa_id = rows.add(
        "sub_activity",
        (
            "region_id",
            "opd_id",
            "activity_id",
            "fiscal_year",
            "code",
            "name",
            "planned_amount",
            *prov,
        ),
        (
            region_id,
            opd_id,
            activity_id,
            fiscal_year,
            sa_code,
            f"{rng.choice(WORKS)} {rng.choice(OBJECTS)}",
            planned,
            *p("bappeda-eplanning", f"{region_code}/{fiscal_year}/{sa_code}"),
        ),
    )
    for seq in range(1, rng.randint(1, 2) + 1):
        rows.add(
            "indicator",
            (*sa_ref, "seq", "description", "unit", "target", "achieved", *prov),
            (
                *sa_val,
                sa_id,
                seq,
                f"Jumlah {rng.choice(OBJECTS)} yang ditangani",
                rng.choice(["Unit", "Km", "Dokumen", "Orang"]),
                Decimal(rng.randint(1, 100)),
                Decimal(rng.randint(0, 100)),
                *p("bappeda-eplanning", f"{region_code}/{fiscal_year}/{sa_code}/{seq}"),
            ),
        )
    accounts = rng.sample(ACCOUNTS, rng.randint(2, 4))
    lines: list[tuple[int, str, Decimal]] = []
    for account_code, account_name in accounts:
        amount = _money(rng, 10_000_000, 1_500_000_000)
        line_id = rows.add(
            "budget_line",
            (*sa_ref, "account_code", "account_name", "amount", "dpa_number", *prov),
            (
                *sa_val,
                sa_id,
                account_code,
                account_name,
                amount,
                f"DPA/A.1/{sa_code}/001/{fiscal_year}",
                *p("bpkad-keuangan", f"{region_code}/{sa_code}/{account_code}"),
            ),
        )
        lines.append((line_id, account_code, amount))
    paid_total = Decimal(0)
    contract_ids: list[tuple[int, Decimal, int, str]] = []
    for n in range(rng.randint(3, 6)):
        line_id, account_code, line_amount = lines[n % len(lines)]
        rup_method, spse_method, _ = rng.choice(method_pool)
        ceiling = (line_amount * Decimal(rng.randint(20, 60)) / 100).quantize(Decimal("0.01"))
        rup_code = str(rup_base * 8 + n)
        package_id = rows.add(
            "procurement_package",
            (
                "rup_code",
                "region_id",
                "opd_code",
                "opd_id",
                "sub_activity_id",
                "fiscal_year",
                "name",
                "method",
                "category",
                "ceiling",
                "funding_source",
                "announced_on",
                *prov,
            ),
            (
                rup_code,
                region_id,
                opd_code,
                opd_id,
                sa_id,
                fiscal_year,
                f"{rng.choice(WORKS)} {rng.choice(OBJECTS)}",
                rup_method,
                rng.choice(CATEGORIES),
                ceiling,
                "APBD",
                date(fiscal_year, 2, 1),
                *p("bpbj-spse", rup_code),
            ),
        )
        mak = f"{sa_code}.{account_code}."
        rows.add(
            "package_budget_row",
            (
                "rup_code",
                "package_id",
                "mak",
                "sub_activity_code",
                "account_code",
                "amount",
                "budget_line_id",
                *prov,
            ),
            (
                rup_code,
                package_id,
                mak,
                sa_code,
                account_code,
                ceiling,
                line_id,
                *p("bpbj-spse", f"{rup_code}/{mak}"),
            ),
        )
        if spse_method is None:
            continue
        tender_code = f"{tender_base * 8 + n}{region_code.replace('.', '')}"
        owner_estimate = (ceiling * Decimal(rng.randint(90, 100)) / 100).quantize(Decimal("0.01"))
        bidders = rng.sample(vendors, 1 if spse_method != "Tender" else rng.randint(2, 6))
        winner = bidders[0]
        done = rng.random() < 0.85
        tender_id = rows.add(
            "tender",
            (
                "code",
                "region_id",
                "name",
                "method",
                "owner_estimate",
                "ceiling",
                "status",
                "version",
                "announced_on",
                "winner_vendor_id",
                *prov,
            ),
            (
                tender_code,
                region_id,
                f"Paket {rup_code}",
                spse_method,
                owner_estimate,
                ceiling,
                "Selesai" if done else "Berlangsung",
                1 if rng.random() < 0.95 else 2,
                date(fiscal_year, 3, 1) + timedelta(days=rng.randint(0, 120)),
                winner[0] if done else None,
                *p("bpbj-spse", tender_code),
            ),
        )
        rows.add(
            "tender_package",
            ("tender_code", "rup_code", "tender_id", "package_id", *prov),
            (
                tender_code,
                rup_code,
                tender_id,
                package_id,
                *p("bpbj-spse", f"{tender_code}/{rup_code}"),
            ),
        )
        for i, (vendor_id, _, _) in enumerate(bidders):
            offer = (owner_estimate * Decimal(rng.randint(85, 99)) / 100).quantize(Decimal("0.01"))
            rows.add(
                "bid",
                (
                    "tender_code",
                    "tender_id",
                    "vendor_id",
                    "amount",
                    "corrected_amount",
                    "is_winner",
                    *prov,
                ),
                (
                    tender_code,
                    tender_id,
                    vendor_id,
                    offer,
                    offer,
                    done and i == 0,
                    *p("bpbj-spse", f"{tender_code}/{vendor_id}"),
                ),
            )
        if not done:
            continue
        value = (owner_estimate * Decimal(rng.randint(88, 99)) / 100).quantize(Decimal("0.01"))
        number = f"{rup_code}/KTR/{fiscal_year}"
        signed = date(fiscal_year, 5, 1) + timedelta(days=rng.randint(0, 60))
        contract_id = rows.add(
            "contract",
            (
                "region_id",
                "number",
                "tender_code",
                "tender_id",
                "sub_activity_id",
                "vendor_id",
                "signed_on",
                "value",
                "original_value",
                "starts_on",
                "ends_on",
                *prov,
            ),
            (
                region_id,
                number,
                tender_code,
                tender_id,
                sa_id,
                winner[0],
                signed,
                value,
                value,
                signed,
                signed + timedelta(days=120),
                *p("bpbj-spse", number),
            ),
        )
        if rng.random() < 0.1:
            rows.add(
                "contract_amendment",
                (
                    "region_id",
                    "contract_number",
                    "contract_id",
                    "version",
                    "value",
                    "reason",
                    "signed_on",
                    *prov,
                ),
                (
                    region_id,
                    number,
                    contract_id,
                    1,
                    value,
                    "Perubahan volume pekerjaan",
                    signed + timedelta(days=45),
                    *p("bpbj-spse", f"{number}/1"),
                ),
            )
        contract_ids.append((contract_id, value, winner[0], number))
    for n in range(rng.randint(1, 4)):
        line_id, account_code, line_amount = lines[n % len(lines)]
        contract = contract_ids[n] if n < len(contract_ids) else None
        amount = (contract[1] if contract else line_amount) * Decimal(rng.randint(10, 50)) / 100
        amount = amount.quantize(Decimal("0.01"))
        paid_total += amount
        sp2d = f"{sp2d_base + n:05d}/SP2D/LS/{region_code}/{fiscal_year}"
        vendor = next((v for v in vendors if contract and v[0] == contract[2]), None)
        rows.add(
            "payment",
            (
                "region_id",
                "fiscal_year",
                "sp2d_number",
                "paid_on",
                "amount",
                "kind",
                "account_code",
                "sub_activity_code",
                "sub_activity_id",
                "contract_number",
                "contract_id",
                "payee_vendor_id",
                "payee_name",
                "payee_tax_id",
                *prov,
            ),
            (
                region_id,
                fiscal_year,
                sp2d,
                date(fiscal_year, 6, 1) + timedelta(days=rng.randint(0, 150)),
                amount,
                "LS" if contract else "GU",
                account_code,
                sa_code,
                sa_id,
                contract[3] if contract else None,
                contract[0] if contract else None,
                vendor[0] if vendor else None,
                vendor[1] if vendor else "Bendahara Pengeluaran",
                vendor[2] if vendor else None,
                *p("bpkad-keuangan", sp2d),
            ),
        )
    physical = Decimal(0)
    for quarter in range(1, rng.randint(0, 4) + 1):
        physical = min(Decimal(100), physical + Decimal(rng.randint(5, 40)))
        rows.add(
            "progress_report",
            (
                *sa_ref,
                "period",
                "physical_percent",
                "financial_percent",
                "problems",
                *prov,
            ),
            (
                *sa_val,
                sa_id,
                f"{fiscal_year}-Q{quarter}",
                physical,
                Decimal(rng.randint(0, 100)),
                None if rng.random() < 0.8 else "Keterlambatan pengiriman material",
                *p("monev-sheets", f"{region_code}/{sa_code}/{fiscal_year}-Q{quarter}"),
            ),
        )
