"""One sub kegiatan with its whole chain (indicators, DPA lines, RUP packages, tenders,
bids, contracts, payments, progress), as rows of the store's tables."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from estate.synthetic.vocabulary import ACCOUNTS, CATEGORIES, OBJECTS, WORKS


def money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low // 1000, high // 1000) * 1000).quantize(Decimal("0.01"))


class Rows:
    """Each table's rows until they are copied into the store; ids are given in order."""

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


def sub_activity_chain(
    rows: Rows,
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
    planned = money(rng, 50_000_000, 5_000_000_000)
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
        amount = money(rng, 10_000_000, 1_500_000_000)
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
