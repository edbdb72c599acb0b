"""Procurement: RUP packages (SiRUP), tenders and bids (SPSE/LPSE), contracts (eKontrak)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import relations as rel
from hub.store.codec import global_id
from schema.common import Connection, Node
from schema.fields import RowBacked, column, link, node_id, row_type, same_row
from schema.history import EntityChange, history_field
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.budget import Payment
    from schema.letters import Letter
    from schema.planning import Opd, Region, SubActivity

T = rel.T


@row_type(T["vendor"])
@strawberry.type(description="Penyedia: a vendor.")
class Vendor(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    name: str = column("name", "Nama penyedia.")
    tax_id: str | None = column(
        "tax_id", "NPWP; null with a FORBIDDEN error for public viewers.", masked="Vendor.taxId"
    )
    row: strawberry.Private[Any]

    @classmethod
    def inline(cls, payment_id: int, name: str, tax_id: str | None) -> Vendor:
        """A payee known only by the name and NPWP written on an SP2D (no vendor row). Its
        id is its payment's, negated: `node(id)` finds it through the payment."""
        row = SimpleNamespace(id=-payment_id, name=name, tax_id=tax_id)
        return cls(id=strawberry.ID(global_id("Vendor", -payment_id)), name=name, row=row)


@row_type(T["package_budget_row"])
@strawberry.type(description="Baris anggaran paket RUP: the `mak` a package is budgeted on.")
class PackageBudgetRow(RowBacked):
    mak: str = column(
        "mak",
        'Kode MAK: sub kegiatan + kode rekening, e.g. "1.03.10.2.01.0029.5.2.04.01.01.0003.".',
    )
    sub_activity_code: str = column("sub_activity_code", "Kode sub kegiatan in the MAK.")
    account_code: str = column("account_code", "Kode rekening in the MAK.")
    amount: Decimal = column("amount", "Pagu of this row (Rupiah).")
    row: strawberry.Private[Any]


@row_type(T["package_version"])
@strawberry.type(description="Versi paket RUP: SiRUP's record of a package's pagu over time.")
class PackageVersion(RowBacked):
    version: int = column("version", "Nomor versi.")
    ceiling: Decimal | None = column("ceiling", "Pagu in this version (Rupiah).")
    status: str | None = column("status", "Status of the version (draft, diumumkan…).")
    version_date: date | None = column("version_date", "Tanggal versi.")
    row: strawberry.Private[Any]


@row_type(T["tender_schedule"])
@strawberry.type(description="Tahap jadwal tender (SPSE): one stage of a tender's schedule.")
class TenderStage(RowBacked):
    stage: str = column("stage", 'Nama tahap, e.g. "Upload Dokumen Penawaran".')
    starts_on: date | None = column("starts_on", "Tanggal mulai.")
    ends_on: date | None = column("ends_on", "Tanggal selesai.")
    row: strawberry.Private[Any]


@row_type(T["procurement_package"])
@strawberry.type(description="Paket RUP (Rencana Umum Pengadaan, SiRUP).")
class ProcurementPackage(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    rup_code: str = column("rup_code", "Kode RUP (kd_rup).")
    name: str = column("name", "Nama paket.")
    method: str = column("method", "Metode pengadaan.")
    category: str | None = column("category", "Jenis pengadaan.")
    ceiling: Decimal = column("ceiling", "Pagu paket (Rupiah).")
    funding_source: str | None = column("funding_source", "Sumber dana (APBD, APBDP, BLUD).")
    fiscal_year: int = column("fiscal_year", "Tahun anggaran.")
    announced_on: date | None = column("announced_on", "Tanggal pengumuman RUP.")
    region: Annotated[Region, strawberry.lazy("schema.planning")] = link(
        rel.REGION_BY_ID, "region_id", "Pemda of the package."
    )
    opd: Annotated[Opd, strawberry.lazy("schema.planning")] | None = link(
        rel.OPD_BY_ID, "opd_id", "OPD (satker) that owns the package; null while unresolved."
    )
    sub_activity: Annotated[SubActivity, strawberry.lazy("schema.planning")] | None = link(
        rel.SUB_ACTIVITY_BY_ID,
        "sub_activity_id",
        "Sub kegiatan the package is budgeted on (through its `mak`); null while that link "
        "is unresolved.",
    )
    tenders: list[Tender] = link(
        rel.TENDERS_BY_PACKAGE, "id", "Tender/non-tender (SPSE) run for this package."
    )
    budget_rows: list[PackageBudgetRow] = link(
        rel.BUDGET_ROWS_BY_PACKAGE, "id", "Baris anggaran (MAK) of the package, by MAK."
    )
    versions: list[PackageVersion] = link(
        rel.VERSIONS_BY_RUP_CODE, "rup_code", "Versi paket in SiRUP, oldest first."
    )
    provenance: Provenance = same_row("Asal data (SiRUP).")
    row: strawberry.Private[Any]


@row_type(T["bid"])
@strawberry.type(description="Penawaran: one bidder's offer.")
class Bid(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    amount: Decimal | None = column("amount", "Nilai penawaran.")
    corrected_amount: Decimal | None = column("corrected_amount", "Nilai terkoreksi.")
    is_winner: bool = column("is_winner", "Pemenang.")
    vendor: Vendor = link(rel.VENDOR_BY_ID, "vendor_id", "Penyedia who bid.", site="bidder")
    row: strawberry.Private[Any]


@row_type(T["tender"])
@strawberry.type(description="Tender or non-tender in SPSE (LPSE).")
class Tender(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    code: str = column("code", "Kode tender (kd_tender).")
    name: str = column("name", "Nama paket tender.")
    method: str = column("method", "Metode pemilihan (mtd_pemilihan).")
    owner_estimate: Decimal | None = column("owner_estimate", "HPS (harga perkiraan sendiri).")
    status: str = column("status", "Status tender.")
    version: int = column("version", "Versi tender; above 1 is a re-tender.")
    announced_on: date | None = column("announced_on", "Tanggal pengumuman.")
    bids: list[Bid] = link(rel.BIDS_BY_TENDER, "id", "Peserta and their offers.")
    winner: Vendor | None = link(rel.VENDOR_BY_ID, "winner_vendor_id", "Pemenang.", site="winner")
    contract: Contract | None = link(
        rel.CONTRACT_BY_TENDER, "id", "Kontrak resulting from the tender."
    )
    packages: list[ProcurementPackage] = link(
        rel.PACKAGES_BY_TENDER, "id", "Paket RUP the tender covers."
    )
    schedule: list[TenderStage] = link(
        rel.SCHEDULE_BY_TENDER_CODE, "code", "Jadwal tender: its stages, in order."
    )
    letters: list[Annotated[Letter, strawberry.lazy("schema.letters")]] = link(
        rel.LETTERS_BY_TENDER, "id", "Surat (E-Surat) naming the tender, by date."
    )
    provenance: Provenance = same_row("Asal data (SPSE).")
    row: strawberry.Private[Any]


@row_type(T["contract_amendment"])
@strawberry.type(description="Addendum kontrak.")
class ContractAmendment(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    version: int = column("version", "Versi addendum.")
    value: Decimal = column("value", "Nilai kontrak after the addendum.")
    reason: str | None = column("reason", "Alasan addendum.")
    signed_on: date | None = column("signed_on", "Tanggal addendum.")
    row: strawberry.Private[Any]


@row_type(T["contract"])
@strawberry.type(description="Kontrak (eKontrak).")
class Contract(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    number: str = column("number", "Nomor kontrak.")
    signed_on: date | None = column("signed_on", "Tanggal kontrak.")
    value: Decimal = column("value", "Nilai kontrak, after addenda.")
    starts_on: date | None = column("starts_on", "Tanggal mulai (SPMK).")
    ends_on: date | None = column("ends_on", "Tanggal selesai.")
    vendor: Vendor | None = link(
        rel.VENDOR_BY_ID, "vendor_id", "Penyedia (contractor).", site="contractor"
    )
    amendments: list[ContractAmendment] = link(
        rel.AMENDMENTS_BY_CONTRACT, "id", "Addenda, by version."
    )
    payments: list[Annotated[Payment, strawberry.lazy("schema.budget")]] = link(
        rel.PAYMENTS_BY_CONTRACT, "id", "SP2D payments against the contract."
    )
    letters: list[Annotated[Letter, strawberry.lazy("schema.letters")]] = link(
        rel.LETTERS_BY_CONTRACT,
        "id",
        "Surat (E-Surat) naming the contract: SPMK, BAST, addenda, by date.",
    )
    provenance: Provenance = same_row("Asal data (eKontrak).")
    row: strawberry.Private[Any]
