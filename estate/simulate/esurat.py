"""E-Surat as work proceeds: the letters the e-office writes when a tender is awarded (the
surat perjanjian and the SPMK) and when a contract gets an addendum, in the estate's
`surat_keluar` shape (estate/legacy/esurat.py): the contract's number only in the perihal."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from estate.legacy.esurat import SENDER
from estate.simulate.change import SourceUnavailable

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
                  starts: date) -> list[Letter]:  # fmt: skip
    return [
        ("KONTRAK", "SP", signed,
         f"Surat perjanjian kd_tender {tender} Nomor Kontrak: {number}", vendor),
        ("SPMK", "SPMK", starts, f"Perintah mulai kerja {name} Nomor Kontrak: {number}", vendor),
    ]  # fmt: skip


def amendment_letter(number: str, version: int, on: date, vendor: str) -> Letter:
    return ("ADENDUM", "ADD", on, f"Addendum {version} Nomor Kontrak: {number}", vendor)
