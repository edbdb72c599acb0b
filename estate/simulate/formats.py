"""Values as each flavour's legacy systems write and read them (see estate/legacy/): SP2D
columns, DPA queries, amounts, dates, NPWPs, winner flags, document numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from adapters.codes import ACCOUNT_WIDTHS, normalise_account_code, normalise_code
from adapters.parsing import parse_date, parse_money
from estate import names
from estate.legacy.formats import code_as, dmy, npwp_text, percent_text, rupiah_text
from estate.simulate.change import SimulatorError, SourceUnavailable

HUNDRED = Decimal(100)
OFFICE_OPENS, OFFICE_CLOSES = time(8), time(17)
OPD_BY_CODE = {kind.code: kind for kind in names.OPDS}
LEADING_NUMBER = re.compile(r"\s*(\d+)")


@dataclass(frozen=True)
class Sp2dShape:
    id: str | None  # integer id column (A, B, D); C has none
    number: str
    day: str
    amount: str
    kind: str | None  # D has none: the kind is inside the number
    account: str
    sa: str
    payee: str
    npwp: str
    contract: str
    opd: str | None = None  # D names the OPD on each SP2D


SP2D = {
    "A": Sp2dShape(
        "id",
        "nomor_sp2d",
        "tanggal_sp2d",
        "nilai_sp2d",
        "jenis",
        "kode_akun",
        "kd_sub_keg",
        "nama_penerima",
        "npwp_penerima",
        "no_kontrak",
    ),
    "B": Sp2dShape(
        "id",
        "no_sp2d",
        "tgl_sp2d",
        "nilai",
        "jns_sp2d",
        "kd_rek",
        "kd_sub_keg",
        "nm_penerima",
        "npwp",
        "no_kontrak",
    ),
    "C": Sp2dShape(
        None,
        "nomor_sp2d",
        "tanggal_sp2d",
        "nilai_sp2d",
        "jenis",
        "kode_rekening",
        "kd_sub_keg",
        "nama_penerima",
        "npwp_penerima",
        "no_kontrak",
    ),
    "D": Sp2dShape(
        "id",
        "no_sp2d",
        "tgl_sp2d",
        "nilai",
        None,
        "kd_rekening",
        "kd_sub_kegiatan",
        "nm_penerima",
        "npwp",
        "no_kontrak",
        "kd_skpd",
    ),
}
B_ACCOUNT_PARTS = ", ".join(f"kd_rek_{n}" for n in range(1, 7))
DPA_SQL = {
    "A": "SELECT kd_sub_keg, kode_akun, nilai, no_dpa FROM dpa_rinci WHERE tahun = ?",
    "B": f"SELECT kd_sub_keg, {B_ACCOUNT_PARTS}, nilai, no_dpa FROM dpa_rinci WHERE tahun = ?",
    "C": "SELECT kd_sub_keg, kode_rekening, pagu, no_dpa FROM dpa_rinci WHERE tahun = ?",
    "D": "SELECT kd_sub_kegiatan, kd_rekening, nilai, no_dpa FROM dpa WHERE tahun = ?",
}
# Flavour D's application writes `tgl_update` on most rows, not all (estate/legacy/finance.py).
D_UPDATED = "tgl_update"
D_UNSTAMPED = 0.3  # of the SP2D the simulator writes: left without an update time


def known_flavour(flavour: str) -> str:
    if flavour not in SP2D:
        raise SimulatorError(f"unknown legacy flavour {flavour!r}")
    return flavour


def procurement_shape(flavour: str) -> str:
    """The flavour a Pemda's SiRUP/SPSE database is written in: D's is the national A."""
    return "A" if flavour == "D" else flavour


def finance_amount(flavour: str, amount: int) -> Any:
    return rupiah_text(amount) if flavour in ("B", "D") else Decimal(amount)


def finance_day(flavour: str, day: date) -> Any:
    return dmy(day) if flavour in ("B", "D") else day


def finance_account(flavour: str, account: str) -> str:
    """A canonical account code as the finance database writes it in `sp2d`."""
    if flavour in ("B", "D"):
        return code_as(account, flavour)
    if flavour == "C":
        return account.replace(".", "")
    return account


def canonical_account(flavour: str, raw: str) -> str:
    if flavour == "C":
        return normalise_code(raw, ACCOUNT_WIDTHS)
    return normalise_account_code(raw)


def finance_npwp(flavour: str, digits: str | None) -> str | None:
    if digits is None:
        return None
    return npwp_text(digits) if flavour in ("B", "D") else digits


def procurement_day(flavour: str, day: date) -> Any:
    return dmy(day) if flavour == "B" else day


def winner_flag(flavour: str, winner: bool = True) -> Any:
    if flavour == "A":
        return winner
    if flavour == "B":
        return int(winner)
    return "Ya" if winner else "Tidak"


def procurement_npwp(flavour: str, digits: str) -> str:
    """An NPWP as SPSE writes it in `spse_peserta` and `spse_kontrak` (C formats it)."""
    return npwp_text(digits) if flavour == "C" else digits


def digits_of(text: str | None) -> str | None:
    if text is None:
        return None
    return re.sub(r"\D", "", text) or None


def rupiah(value: Any) -> int:
    """A legacy amount (numeric, or Indonesian text) in whole rupiah."""
    parsed = parse_money(value, locale="id")
    return 0 if parsed is None else int(parsed)


def legacy_date(value: Any) -> date:
    parsed = parse_date(value)
    if parsed is None:
        raise SourceUnavailable(f"a date is missing where the legacy row needs one ({value!r})")
    return parsed


def money_text(amount: int) -> str:
    return "Rp " + rupiah_text(amount).removesuffix(",00")


def percent(value: Decimal) -> str:
    """A percentage as the demo's log shows it: one decimal, a decimal comma."""
    return percent_text(value.quantize(Decimal("0.1")))


def as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, date):
        return datetime.combine(value, OFFICE_CLOSES)
    return datetime.fromisoformat(str(value)).replace(tzinfo=None, microsecond=0)


def number_seq(numbers: Sequence[Any]) -> int:
    """The largest leading number of document numbers such as `00123/SP2D/LS/2026`."""
    best = 0
    for number in numbers:
        match = LEADING_NUMBER.match(str(number or ""))
        if match:
            best = max(best, int(match.group(1)))
    return best
