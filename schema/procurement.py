"""Procurement: RUP packages (SiRUP), tenders and bids (SPSE/LPSE), contracts (eKontrak)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row

from hub.errors import Forbidden
from hub.store import relations as rel
from resolvers.context import Context
from schema.common import Node, global_id
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.budget import Payment
    from schema.planning import SubActivity

Info = strawberry.Info[Context, None]


@strawberry.type(description="Penyedia: a vendor.")
class Vendor:
    name: str = strawberry.field(description="Nama penyedia.")
    npwp: strawberry.Private[str | None]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Vendor:
        return cls(name=row.name, npwp=row.tax_id)

    @strawberry.field(description="NPWP; null with a FORBIDDEN error for public viewers.")
    def tax_id(self, info: Info) -> str | None:
        if not info.context.access.scope.sees_field("Vendor.taxId"):
            raise Forbidden("NPWP is not shown to anonymous viewers; send an API key.")
        return self.npwp


@strawberry.type(description="Paket RUP (Rencana Umum Pengadaan, SiRUP).")
class ProcurementPackage(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    rup_code: str = strawberry.field(description="Kode RUP (kd_rup).")
    name: str = strawberry.field(description="Nama paket.")
    method: str = strawberry.field(description="Metode pengadaan.")
    category: str | None = strawberry.field(description="Jenis pengadaan.")
    ceiling: Decimal = strawberry.field(description="Pagu paket (Rupiah).")
    funding_source: str | None = strawberry.field(description="Sumber dana (APBD, APBDP, BLUD).")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> ProcurementPackage:
        return cls(
            id=global_id("ProcurementPackage", row.id),
            rup_code=row.rup_code,
            name=row.name,
            method=row.method,
            category=row.category,
            ceiling=row.ceiling,
            funding_source=row.funding_source,
            row=row,
        )

    @strawberry.field(
        description="Sub kegiatan the package is budgeted on (through its `mak`); "
        "null while that link is unresolved."
    )
    async def sub_activity(
        self, info: Info
    ) -> Annotated[SubActivity, strawberry.lazy("schema.planning")] | None:
        from schema.planning import SubActivity

        row = await info.context.loaders.one(rel.SUB_ACTIVITY_BY_ID, self.row.sub_activity_id)
        return SubActivity.from_row(row) if row else None

    @strawberry.field(description="Tender/non-tender (SPSE) run for this package.")
    async def tenders(self, info: Info) -> list[Tender]:
        rows = await info.context.loaders.many(rel.TENDERS_BY_PACKAGE, self.row.id)
        return [Tender.from_row(row) for row in rows]

    @strawberry.field(description="Asal data (SiRUP).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "ProcurementPackage")


@strawberry.type(description="Penawaran: one bidder's offer.")
class Bid:
    amount: Decimal | None = strawberry.field(description="Nilai penawaran.")
    corrected_amount: Decimal | None = strawberry.field(description="Nilai terkoreksi.")
    is_winner: bool = strawberry.field(description="Pemenang.")
    row: strawberry.Private[Row[Any]]

    @strawberry.field(description="Penyedia who bid.")
    async def vendor(self, info: Info) -> Vendor:
        row = await info.context.loaders.one(rel.VENDOR_BY_ID, self.row.vendor_id, "bidder")
        assert row is not None
        return Vendor.from_row(row)


@strawberry.type(description="Tender or non-tender in SPSE (LPSE).")
class Tender(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    code: str = strawberry.field(description="Kode tender (kd_tender).")
    name: str = strawberry.field(description="Nama paket tender.")
    method: str = strawberry.field(description="Metode pemilihan (mtd_pemilihan).")
    owner_estimate: Decimal | None = strawberry.field(description="HPS (harga perkiraan sendiri).")
    status: str = strawberry.field(description="Status tender.")
    version: int = strawberry.field(description="Versi tender; above 1 is a re-tender.")
    announced_on: date | None = strawberry.field(description="Tanggal pengumuman.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Tender:
        return cls(
            id=global_id("Tender", row.id),
            code=row.code,
            name=row.name,
            method=row.method,
            owner_estimate=row.owner_estimate,
            status=row.status,
            version=row.version,
            announced_on=row.announced_on,
            row=row,
        )

    @strawberry.field(description="Peserta and their offers.")
    async def bids(self, info: Info) -> list[Bid]:
        rows = await info.context.loaders.many(rel.BIDS_BY_TENDER, self.row.id)
        return [
            Bid(amount=r.amount, corrected_amount=r.corrected_amount, is_winner=r.is_winner, row=r)
            for r in rows
        ]

    @strawberry.field(description="Pemenang.")
    async def winner(self, info: Info) -> Vendor | None:
        row = await info.context.loaders.one(rel.VENDOR_BY_ID, self.row.winner_vendor_id, "winner")
        return Vendor.from_row(row) if row else None

    @strawberry.field(description="Kontrak resulting from the tender.")
    async def contract(self, info: Info) -> Contract | None:
        row = await info.context.loaders.one(rel.CONTRACT_BY_TENDER, self.row.id)
        return Contract.from_row(row) if row else None

    @strawberry.field(description="Paket RUP the tender covers.")
    async def packages(self, info: Info) -> list[ProcurementPackage]:
        rows = await info.context.loaders.many(rel.PACKAGES_BY_TENDER, self.row.id)
        return [ProcurementPackage.from_row(row) for row in rows]

    @strawberry.field(description="Asal data (SPSE).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "Tender")


@strawberry.type(description="Addendum kontrak.")
class ContractAmendment:
    version: int = strawberry.field(description="Versi addendum.")
    value: Decimal = strawberry.field(description="Nilai kontrak after the addendum.")
    reason: str | None = strawberry.field(description="Alasan addendum.")
    signed_on: date | None = strawberry.field(description="Tanggal addendum.")


@strawberry.type(description="Kontrak (eKontrak).")
class Contract(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    number: str = strawberry.field(description="Nomor kontrak.")
    signed_on: date | None = strawberry.field(description="Tanggal kontrak.")
    value: Decimal = strawberry.field(description="Nilai kontrak, after addenda.")
    starts_on: date | None = strawberry.field(description="Tanggal mulai (SPMK).")
    ends_on: date | None = strawberry.field(description="Tanggal selesai.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Contract:
        return cls(
            id=global_id("Contract", row.id),
            number=row.number,
            signed_on=row.signed_on,
            value=row.value,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            row=row,
        )

    @strawberry.field(description="Penyedia (contractor).")
    async def vendor(self, info: Info) -> Vendor | None:
        row = await info.context.loaders.one(rel.VENDOR_BY_ID, self.row.vendor_id, "contractor")
        return Vendor.from_row(row) if row else None

    @strawberry.field(description="Addenda, by version.")
    async def amendments(self, info: Info) -> list[ContractAmendment]:
        rows = await info.context.loaders.many(rel.AMENDMENTS_BY_CONTRACT, self.row.id)
        return [
            ContractAmendment(
                version=r.version, value=r.value, reason=r.reason, signed_on=r.signed_on
            )
            for r in rows
        ]

    @strawberry.field(description="SP2D payments against the contract.")
    async def payments(
        self, info: Info
    ) -> list[Annotated[Payment, strawberry.lazy("schema.budget")]]:
        from schema.budget import Payment

        rows = await info.context.loaders.many(rel.PAYMENTS_BY_CONTRACT, self.row.id)
        return [Payment.from_row(row) for row in rows]

    @strawberry.field(description="Asal data (eKontrak).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "Contract")
