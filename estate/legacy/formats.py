"""The flavour of each Pemda's systems, and values as each flavour writes them: codes,
rupiah and percentages as Indonesian text, NPWPs, dd-mm-yyyy dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from estate import names

# The Pemda of flavour D: a regency whose finance database the other flavours do not
# share (Renja, DPA and SP2D in one database, no hierarchy tables).
FLAVOUR_D_REGION = "53.18"  # Kabupaten Sumba Barat Daya


def flavour_of(region: str) -> str:
    if region == "53":
        return "A"
    if region == "53.01":
        return "B"
    if region == "53.71":
        return "C"
    if region == FLAVOUR_D_REGION:
        return "D"
    return "ABC"[names.REGION_INDEX[region] % 3]


def procurement_flavour(region: str) -> str:
    """The shape of the Pemda's SiRUP/SPSE database: D's LPSE runs the national SPSE (A)."""
    flavour = flavour_of(region)
    return "A" if flavour == "D" else flavour


def segments(code: str) -> list[str]:
    return code.split(".")


def code_as(code: str, flavour: str) -> str:
    """A canonical code as the flavour writes it."""
    if flavour == "B":
        return ".".join(str(int(s)) for s in segments(code))
    if flavour == "C":
        return ". ".join(segments(code))
    if flavour == "D":
        return " ".join(str(int(s)) for s in segments(code))
    return code


def rupiah_text(amount: int) -> str:
    """1250000 → "1.250.000,00" (Indonesian format, as text)."""
    return f"{amount:,}".replace(",", ".") + ",00"


def npwp_text(npwp: str) -> str:
    """15 digits → 01.234.567.8-901.000"""
    return f"{npwp[:2]}.{npwp[2:5]}.{npwp[5:8]}.{npwp[8]}-{npwp[9:12]}.{npwp[12:15]}"


def dmy(day: date | None) -> str | None:
    return None if day is None else day.strftime("%d-%m-%Y")


def percent_text(value: Decimal) -> str:
    return str(value).replace(".", ",")


def money(amount: int) -> Decimal:
    return Decimal(amount)
