"""Payments in BPKAD's finance database (`sp2d`): further terms on signed contracts, and GU
payments on DPA lines no package procures."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters.codes import normalise_sub_activity_code, split_mak
from estate import names
from estate.legacy.formats import code_as
from estate.simulate.change import SimChange
from estate.simulate.formats import (
    D_UNSTAMPED,
    D_UPDATED,
    HUNDRED,
    OPD_BY_CODE,
    SP2D,
    canonical_account,
    finance_account,
    finance_amount,
    finance_day,
    finance_npwp,
    money_text,
    number_seq,
    percent,
    rupiah,
)
from estate.simulate.reads import SpseContract, paid_by_contract, read_contracts, read_dpa_lines
from estate.simulate.sources import Finance, ManifestRegion

if TYPE_CHECKING:
    from estate.simulate.simulator import Simulator

MIN_PAYMENT = 1_000_000
PAY_CAP = Decimal("0.85")  # of the effective value, until the work is done and handed over
FINAL_PROGRESS = Decimal(80)  # physical % a final payment needs
NO_REPORT_PROGRESS = Decimal(60)  # what a contract without any monev report may be paid for


async def contract_payment(
    sim: Simulator, region: ManifestRegion, today: date, moment: datetime
) -> SimChange | None:
    if region.finance is None or region.procurement is None:
        return None
    pg = sim.postgres(region.procurement)
    async with pg.transaction() as conn:
        contracts = await read_contracts(conn, sim.fiscal_year)
    progress = await sim.workbooks.progress_of(region)
    finance = sim.finance_db(region.finance)
    async with finance.transaction():
        paid = await paid_by_contract(finance, sim.fiscal_year)
        options: list[tuple[SpseContract, int, bool, Decimal | None]] = []
        for c in contracts:
            if not c.maks or today < c.starts_on + timedelta(days=10):
                continue
            done = paid.get(c.number, 0)
            if done >= c.effective:
                continue
            reports = [progress[sa].physical for sa in c.sa_codes if sa in progress]
            physical = min(reports) if reports else None
            handed_over = today >= c.ends_on + timedelta(days=5)
            if physical is not None and physical >= FINAL_PROGRESS and handed_over:
                options.append((c, c.effective - done, True, physical))
                continue
            reported = NO_REPORT_PROGRESS if physical is None else physical
            share = min(PAY_CAP, reported / HUNDRED)
            room = int(c.effective * share) - done
            if room >= MIN_PAYMENT:
                options.append((c, room, False, physical))
        if not options:
            return None
        contract, room, final, physical = sim.rng.choice(options)
        amount = room
        if not final:
            amount = room * sim.rng.randint(35, 100) // 100
            if amount < MIN_PAYMENT:
                amount = room
        sa, account = split_mak(contract.maks[0])
        number = await insert_sp2d(
            sim,
            finance,
            moment,
            today,
            amount=amount,
            kind="LS",
            account=account,
            sa=sa,
            payee=contract.vendor_name,
            npwp=contract.vendor_npwp,
            contract=contract.number,
        )
    written = datetime.now(UTC)
    share_paid = (paid.get(contract.number, 0) + amount) * 100 // contract.effective
    what = "pelunasan" if final else f"termin, {share_paid}% terbayar"
    if physical is not None:
        what += f", fisik {percent(physical)}%"
    return SimChange(
        source=region.finance.id,
        entity="payment",
        kind="payment",
        key=f"{region.code}/{sim.fiscal_year}/{number}",
        written_at=written,
        summary=(
            f"SP2D {number} {money_text(amount)} ke {contract.vendor_name} — kontrak "
            f"{contract.number} ({what})"
        ),
    )


async def gu_payment(
    sim: Simulator, region: ManifestRegion, today: date, moment: datetime
) -> SimChange | None:
    """GU (ganti uang) on a DPA line no package procures: up to what is left on it."""
    if region.finance is None:
        return None
    finance = sim.finance_db(region.finance)
    f, shape = finance.flavour, SP2D[finance.flavour]
    non_procurable = {a.code for a in names.NON_PROCURABLE}
    async with finance.transaction():
        lines = [
            line
            for line in await read_dpa_lines(finance, sim.fiscal_year)
            if line[1] in non_procurable
        ]
        if not lines:
            return None
        spent: dict[tuple[str, str], int] = defaultdict(int)
        for sa_text, raw_account, amount in await finance.fetch(
            f"SELECT {shape.sa}, {shape.account}, {shape.amount} FROM sp2d "
            f"WHERE tahun = ? AND {shape.sa} IS NOT NULL AND {shape.account} IS NOT NULL",
            sim.fiscal_year,
        ):
            spent[(str(sa_text), canonical_account(f, str(raw_account)))] += rupiah(amount)
        options = []
        for sa_text, account, amount, dpa in sorted(lines):
            room = amount - spent[(sa_text, account)]
            if room >= MIN_PAYMENT:
                options.append((sa_text, account, amount, dpa, room))
        if not options:
            return None
        sa_text, account, line_amount, dpa, room = sim.rng.choice(options)
        amount = min(room, line_amount * sim.rng.randint(5, 20) // 100 // 1000 * 1000)
        if amount < MIN_PAYMENT:
            amount = room
        dpa_parts = dpa.split("/")  # DPA/A.1/<opd>/<n>/<year>
        opd = OPD_BY_CODE.get(dpa_parts[2]) if len(dpa_parts) > 2 else None
        payee = f"Bendahara Pengeluaran {opd.name if opd else dpa}"
        number = await insert_sp2d(
            sim,
            finance,
            moment,
            today,
            amount=amount,
            kind="GU",
            account=account,
            sa=normalise_sub_activity_code(sa_text),
            payee=payee,
            npwp=None,
            contract=None,
        )
    written = datetime.now(UTC)
    return SimChange(
        source=region.finance.id,
        entity="payment",
        kind="payment",
        key=f"{region.code}/{sim.fiscal_year}/{number}",
        written_at=written,
        summary=(
            f"SP2D {number} {money_text(amount)} ke {payee} — "
            f"{sa_text} rekening {finance_account(f, account)}"
        ),
    )


async def insert_sp2d(
    sim: Simulator,
    finance: Finance,
    moment: datetime,
    today: date,
    *,
    amount: int,
    kind: str,
    account: str,
    sa: str,
    payee: str,
    npwp: str | None,
    contract: str | None,
) -> str:
    """Insert one SP2D row in the flavour's shape; returns its number."""
    f, shape = finance.flavour, SP2D[finance.flavour]
    numbers = await finance.fetch(
        f"SELECT {shape.number} FROM sp2d WHERE tahun = ?", sim.fiscal_year
    )
    number = f"{number_seq([n for (n,) in numbers]) + 1:05d}/SP2D/{kind}/{sim.fiscal_year}"
    values: dict[str, Any] = {}
    if shape.id is not None:
        (top,) = (await finance.fetch(f"SELECT max({shape.id}) FROM sp2d"))[0]
        values[shape.id] = int(top or 0) + 1
    values |= {
        "tahun": sim.fiscal_year,
        shape.number: number,
        shape.day: finance_day(f, today),
        shape.amount: finance_amount(f, amount),
        shape.account: finance_account(f, account),
        shape.sa: code_as(sa, f),
        shape.payee: payee,
        shape.npwp: finance_npwp(f, npwp),
        shape.contract: contract,
    }
    if shape.kind is not None:
        values[shape.kind] = kind
    if shape.opd is not None:
        renja = await finance.fetch(
            "SELECT kd_skpd FROM renja WHERE tahun = ? AND kd_sub_kegiatan = ?",
            sim.fiscal_year,
            code_as(sa, f),
        )
        values[shape.opd] = renja[0][0] if renja else None
    watermark = finance.source.watermark("sp2d")
    if watermark is not None:
        values[watermark] = sim.next_stamp(moment, await finance.max_watermark("sp2d"))
    elif f == "D":
        # The application stamps most SP2D it writes, not all: a watermark on the column
        # would miss these (the mapping reads the table by keyed diff).
        values[D_UPDATED] = None if sim.rng.random() < D_UNSTAMPED else moment
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    await finance.execute(f"INSERT INTO sp2d ({columns}) VALUES ({marks})", *values.values())
    return number
