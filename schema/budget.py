"""Budget: DPA lines (anggaran) and SP2D payments (pembayaran)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row

from hub.errors import Forbidden
from hub.store import relations as rel
from resolvers.context import Context
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.procurement import Contract, Vendor

Info = strawberry.Info[Context, None]


@strawberry.type(description="Anggaran (DPA) of a sub kegiatan and its payments.")
class Budget:
    sub_activity_id: strawberry.Private[int]

    @strawberry.field(description="Pagu DPA: the sum of the DPA lines.")
    async def allocated(self, info: Info) -> Decimal:
        row = await info.context.loaders.one(rel.ROLLUP_BY_SUB_ACTIVITY, self.sub_activity_id)
        assert row is not None
        return Decimal(row.allocated)

    @strawberry.field(description="Realisasi: the sum of SP2D payments.")
    async def paid(self, info: Info) -> Decimal:
        row = await info.context.loaders.one(rel.ROLLUP_BY_SUB_ACTIVITY, self.sub_activity_id)
        assert row is not None
        return Decimal(row.paid)

    @strawberry.field(description="Rincian DPA by kode rekening.")
    async def lines(self, info: Info) -> list[BudgetLine]:
        rows = await info.context.loaders.many(
            rel.BUDGET_LINES_BY_SUB_ACTIVITY, self.sub_activity_id
        )
        return [BudgetLine.from_row(row) for row in rows]

    @strawberry.field(description="SP2D payments, oldest first.")
    async def payments(self, info: Info) -> list[Payment]:
        rows = await info.context.loaders.many(rel.PAYMENTS_BY_SUB_ACTIVITY, self.sub_activity_id)
        return [Payment.from_row(row) for row in rows]


@strawberry.type(description="Baris DPA: an allocation to one kode rekening.")
class BudgetLine:
    account_code: str = strawberry.field(description='Kode rekening, e.g. "5.2.04.01.01.0003".')
    account_name: str | None = strawberry.field(description="Nama rekening.")
    amount: Decimal = strawberry.field(description="Nilai anggaran (Rupiah).")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> BudgetLine:
        return cls(
            account_code=row.account_code,
            account_name=row.account_name,
            amount=row.amount,
            row=row,
        )

    @strawberry.field(description="Asal data (BPKAD e-budgeting).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "BudgetLine")


@strawberry.type(description="SP2D: Surat Perintah Pencairan Dana, a payment.")
class Payment:
    sp2d_number: str = strawberry.field(description="Nomor SP2D.")
    paid_on: date = strawberry.field(description="Tanggal SP2D.")
    amount: Decimal = strawberry.field(description="Nilai SP2D (Rupiah).")
    account_code: str | None = strawberry.field(description="Kode rekening charged.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Payment:
        return cls(
            sp2d_number=row.sp2d_number,
            paid_on=row.paid_on,
            amount=row.amount,
            account_code=row.account_code,
            row=row,
        )

    @strawberry.field(description="Penerima (payee) as a vendor.")
    async def payee(
        self, info: Info
    ) -> Annotated[Vendor, strawberry.lazy("schema.procurement")] | None:
        from schema.procurement import Vendor

        if not info.context.access.scope.sees_field("Payment.payee"):
            raise Forbidden("Payees are not shown to anonymous viewers; send an API key.")
        if self.row.payee_vendor_id is None:
            if self.row.payee_name is None:
                return None
            return Vendor(name=self.row.payee_name, npwp=self.row.payee_tax_id)
        row = await info.context.loaders.one(rel.VENDOR_BY_ID, self.row.payee_vendor_id, "payee")
        return Vendor.from_row(row) if row else None

    @strawberry.field(description="Kontrak the payment settles, when referenced.")
    async def contract(
        self, info: Info
    ) -> Annotated[Contract, strawberry.lazy("schema.procurement")] | None:
        from schema.procurement import Contract

        row = await info.context.loaders.one(rel.CONTRACT_BY_ID, self.row.contract_id)
        return Contract.from_row(row) if row else None

    @strawberry.field(description="Asal data (BPKAD SP2D).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "Payment")
