"""E-Surat: official letters from each Pemda's e-office (surat keluar and masuk), the
chain's real dates: the SPMK that orders work to start, the BAST that hands it over, the
contract and its addenda. A letter names its contract or tender by number, often only in
its subject (perihal); the mapping's patterns read it out, and a letter whose number finds
no contract or tender is kept unlinked."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field

from hub.store.models.columns import Synced, fk, pk

# Jenis surat, as the canonical entity stores them.
LETTER_KINDS = ("SPMK", "BAST", "KONTRAK", "ADENDUM", "LAINNYA")


class LetterRow(Synced, table=True):
    """Surat: one official letter, keyed on (Pemda, letter number)."""

    __tablename__ = "letter"
    __table_args__ = (UniqueConstraint("region_id", "number"),)

    id: int | None = pk()
    region_id: int = fk("region.id", ondelete="RESTRICT")
    number: str  # nomor surat
    dated_on: date  # tanggal surat
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    subject: str | None = None  # perihal
    direction: str | None = Field(default=None, sa_column=Column(String(8)))  # KELUAR, MASUK
    sender: str | None = None  # unit pengirim
    recipient: str | None = None  # unit penerima
    contract_number: str | None = None  # as the letter names it
    tender_code: str | None = None
    contract_id: int | None = fk("contract.id", nullable=True, ondelete="SET NULL")
    tender_id: int | None = fk("tender.id", nullable=True, ondelete="SET NULL")
