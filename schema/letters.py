"""E-Surat: official letters (surat) of each Pemda's e-office, linked to the contract or
tender they name. Visible to whoever sees contracts."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import relations as rel
from schema.common import Node
from schema.fields import RowBacked, column, link, node_id, row_type, same_row
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.planning import Region
    from schema.procurement import Contract, Tender


@strawberry.enum(description="Jenis surat.")
class LetterKind(Enum):
    SPMK = strawberry.enum_value("SPMK", description="Surat Perintah Mulai Kerja.")
    BAST = strawberry.enum_value("BAST", description="Berita Acara Serah Terima.")
    KONTRAK = strawberry.enum_value("KONTRAK", description="Surat perjanjian (kontrak).")
    ADENDUM = strawberry.enum_value("ADENDUM", description="Addendum kontrak.")
    LAINNYA = strawberry.enum_value("LAINNYA", description="Surat lainnya.")


@strawberry.enum(description="Arah surat.")
class LetterDirection(Enum):
    KELUAR = strawberry.enum_value("KELUAR", description="Surat keluar.")
    MASUK = strawberry.enum_value("MASUK", description="Surat masuk.")


@row_type(rel.T["letter"])
@strawberry.type(description="Surat (E-Surat): an official letter of a Pemda's e-office.")
class Letter(Node, RowBacked):
    id: strawberry.ID = node_id()
    number: str = column("number", "Nomor surat.")
    dated_on: date = column("dated_on", "Tanggal surat.")
    kind: LetterKind = column("kind", "Jenis surat.")
    subject: str | None = column("subject", "Perihal.")
    direction: LetterDirection | None = column("direction", "Surat keluar or masuk.")
    sender: str | None = column("sender", "Unit pengirim.")
    recipient: str | None = column("recipient", "Unit penerima.")
    contract_number: str | None = column(
        "contract_number", "Nomor kontrak the letter names (often read out of its perihal)."
    )
    tender_code: str | None = column("tender_code", "Kode tender the letter names.")
    region: Annotated[Region, strawberry.lazy("schema.planning")] = link(
        rel.REGION_BY_ID, "region_id", "Pemda of the e-office."
    )
    contract: Annotated[Contract, strawberry.lazy("schema.procurement")] | None = link(
        rel.CONTRACT_BY_ID, "contract_id", "The contract it names; null when none is known."
    )
    tender: Annotated[Tender, strawberry.lazy("schema.procurement")] | None = link(
        rel.TENDER_BY_ID, "tender_id", "The tender it names; null when none is known."
    )
    provenance: Provenance = same_row("Asal data (E-Surat).")
    row: strawberry.Private[Any]
