"""E-Surat as work proceeds: the letters the e-office writes when a tender is awarded (the
surat perjanjian and the SPMK), when a contract gets an addendum, and the BAST when a
contract's end day comes (`handovers`, after every step), in the estate's
`surat_keluar` shape (estate/legacy/esurat.py): the contract's number only in the perihal.

Who writes which BAST follows from the estate's day (`as_of`) alone, with no list of
contracts: the generator wrote the BAST of every contract of its own that ended by that day,
except the HANDOVER_WITHOUT_LETTER seeds, which never get one; the simulator writes the BAST
of a contract that ends after that day when the clock reaches its end, and that of a
contract it awards whose end day has already come (its signing can be weeks before the
clock, so its end can be before the estate's day) with the award's letters."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from estate.legacy.esurat import SENDER
from estate.mappings import CONTRACT_IN_PERIHAL
from estate.simulate.change import SourceUnavailable
from estate.simulate.reads import read_contracts
from estate.simulate.sources import ManifestRegion

if TYPE_CHECKING:
    from estate.simulate.simulator import Simulator

Letter = tuple[str, str, date, str, str]  # kind, number code, date, perihal, recipient


def _write(path: Path, letters: Sequence[Letter]) -> None:
    if not path.is_file():
        raise SourceUnavailable(f"no e-office database at {path}")
    conn = sqlite3.connect(path)
    try:
        seq = conn.execute("SELECT COALESCE(max(id_surat), 0) FROM surat_keluar").fetchone()[0]
        for kind, code, on, subject, to in letters:
            seq += 1
            conn.execute(
                "INSERT INTO surat_keluar VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, f"{seq:04d}/{code}/{on.year}", on.strftime("%d-%m-%Y"), kind, subject,
                 SENDER, to),
            )  # fmt: skip
        conn.commit()
    finally:
        conn.close()


async def write_letters(path: Path | None, letters: Sequence[Letter]) -> None:
    """Append `letters` to the e-office at `path` (nothing when the Pemda has none)."""
    if path is not None and letters:
        await asyncio.to_thread(_write, path, letters)


def award_letters(number: str, tender: int, name: str, vendor: str, signed: date,
                  starts: date, ends: date, today: date) -> list[Letter]:  # fmt: skip
    """The surat perjanjian and the SPMK of an award, and its BAST when the contract's end
    day has already come (`handovers` writes only those of contracts ending after the
    estate's day)."""
    letters: list[Letter] = [
        ("KONTRAK", "SP", signed,
         f"Surat perjanjian kd_tender {tender} Nomor Kontrak: {number}", vendor),
        ("SPMK", "SPMK", starts, f"Perintah mulai kerja {name} Nomor Kontrak: {number}", vendor),
    ]  # fmt: skip
    if ends <= today:
        letters.append(handover_letter(number, ends))
    return letters


def handover_letter(number: str, ends: date) -> Letter:
    """The BAST of a contract, dated its end day (as the generator dates them)."""
    return ("BAST", "BAST", ends, f"Serah terima pekerjaan Nomor Kontrak: {number}",
            "Bagian Keuangan")  # fmt: skip


def amendment_letter(number: str, version: int, on: date, vendor: str) -> Letter:
    return ("ADENDUM", "ADD", on, f"Addendum {version} Nomor Kontrak: {number}", vendor)


_CONTRACT = re.compile(CONTRACT_IN_PERIHAL)


def _handover(path: Path, due: Sequence[tuple[str, date, str]]) -> int:
    """BAST letters for the contracts `due` (number, end day, vendor) that have none yet."""
    conn = sqlite3.connect(path)
    try:
        handed = {
            match.group(1)
            for (subject,) in conn.execute(
                "SELECT perihal FROM surat_keluar WHERE jenis_surat = 'BAST'"
            )
            if (match := _CONTRACT.search(subject or "")) is not None
        }
    finally:
        conn.close()
    letters = [handover_letter(number, ends) for number, ends, _ in due if number not in handed]
    if letters:
        _write(path, letters)
    return len(letters)


async def handovers(sim: Simulator, region: ManifestRegion, today: date) -> int:
    """The BAST of every contract of the year whose end day has come since the estate's day
    (dated that day, as the generator dates them): work handed over as the clock passes its
    end. A contract that ended by the estate's day has its BAST from the generator or from
    its award, or is a HANDOVER_WITHOUT_LETTER seed and never gets one."""
    if region.esurat is None or region.esurat.path is None or region.procurement is None:
        return 0
    async with sim.postgres(region.procurement).transaction() as conn:
        contracts = await read_contracts(conn, sim.fiscal_year)
    due = [
        (c.number, c.ends_on, c.vendor_name) for c in contracts if sim.as_of < c.ends_on <= today
    ]
    if not due:
        return 0
    return await asyncio.to_thread(_handover, region.esurat.path, due)
