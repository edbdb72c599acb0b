"""Budget: DPA lines (anggaran) and SP2D payments (pembayaran)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.errors import Forbidden
from hub.store import relations as rel
from resolvers.context import Context
from schema.common import Connection, Node
from schema.fields import RowBacked, column, derived, link, lookup, node_id, row_type, same_row
from schema.history import EntityChange, history_field
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.procurement import Contract, Vendor

Info = strawberry.Info[Context, None]
T = rel.T


@row_type()
@strawberry.type(description="Anggaran (DPA) of a sub kegiatan and its payments.")
class Budget(RowBacked):
    allocated: Decimal = lookup(
        rel.ROLLUP_BY_SUB_ACTIVITY, "id", "allocated", "Pagu DPA: the sum of the DPA lines."
    )
    paid: Decimal = lookup(
        rel.ROLLUP_BY_SUB_ACTIVITY, "id", "paid", "Realisasi: the sum of SP2D payments."
    )
    lines: list[BudgetLine] = link(
        rel.BUDGET_LINES_BY_SUB_ACTIVITY, "id", "Rincian DPA by kode rekening."
    )
    payments: list[Payment] = link(
        rel.PAYMENTS_BY_SUB_ACTIVITY, "id", "SP2D payments, oldest first."
    )
    row: strawberry.Private[Any]  # the sub kegiatan's
    site: strawberry.Private[str]


@row_type(T["budget_line"])
@strawberry.type(description="Baris DPA: an allocation to one kode rekening.")
class BudgetLine(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    account_code: str = column("account_code", 'Kode rekening, e.g. "5.2.04.01.01.0003".')
    account_name: str | None = column("account_name", "Nama rekening.")
    amount: Decimal = column("amount", "Nilai anggaran (Rupiah).")
    provenance: Provenance = same_row("Asal data (BPKAD e-budgeting).")
    row: strawberry.Private[Any]


@row_type(T["payment"])
@strawberry.type(description="SP2D: Surat Perintah Pencairan Dana, a payment.")
class Payment(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    sp2d_number: str = column("sp2d_number", "Nomor SP2D.")
    paid_on: date = column("paid_on", "Tanggal SP2D.")
    amount: Decimal = column("amount", "Nilai SP2D (Rupiah).")
    account_code: str | None = column("account_code", "Kode rekening charged.")
    contract: Annotated[Contract, strawberry.lazy("schema.procurement")] | None = link(
        rel.CONTRACT_BY_ID, "contract_id", "Kontrak the payment settles, when referenced."
    )
    provenance: Provenance = same_row("Asal data (BPKAD SP2D).")
    row: strawberry.Private[Any]

    @strawberry.field(
        description="Penerima (payee) as a vendor.",
        metadata=derived("payee_vendor_id", "payee_name", "payee_tax_id"),
    )
    async def payee(
        self, info: Info
    ) -> Annotated[Vendor, strawberry.lazy("schema.procurement")] | None:
        """The vendor row when the payee is one, else the name and NPWP on the payment:
        a field of its own on the compiled path too (hub/serving/compiled/)."""
        from schema.procurement import Vendor

        if not info.context.access.scope.sees_field("Payment.payee"):
            raise Forbidden("Payees are not shown to anonymous viewers; send an API key.")
        if self.row.payee_vendor_id is None:
            if self.row.payee_name is None:
                return None
            return Vendor.inline(self.row.id, self.row.payee_name, self.row.payee_tax_id)
        row = await info.context.loaders.one(rel.VENDOR_BY_ID, self.row.payee_vendor_id, "payee")
        return Vendor.from_row(row) if row else None
