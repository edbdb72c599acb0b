"""Planning: Pemda (region), OPD, program, kegiatan, sub kegiatan, indicators, summaries."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import relations as rel
from resolvers import planning as resolve
from resolvers import summaries
from resolvers.context import Context
from resolvers.loaders import shared
from schema.common import ChainStage, Connection, Node, RegionLevel
from schema.fields import RowBacked, column, link, lookup, node_id, row_type, same_row
from schema.followup import FollowUpSummary, follow_up_summary
from schema.history import EntityChange, history_field
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.budget import Budget
    from schema.discrepancy import Discrepancy
    from schema.monev import ProgressReport
    from schema.procurement import ProcurementPackage

Info = strawberry.Info[Context, None]
T = rel.T


@row_type()
@strawberry.type(description="Ringkasan rantai: plan → budget → procurement → payment totals.")
class ChainSummary(RowBacked):
    sub_activities: int = column("sub_activities", "Jumlah sub kegiatan.")
    planned_amount: Decimal = column("planned_amount", "Pagu indikatif (RKPD/Renja), total.")
    allocated: Decimal = column("allocated", "Anggaran DPA, total.")
    procurement_ceiling: Decimal = column("procurement_ceiling", "Pagu RUP (SiRUP), total.")
    contracted: Decimal = column("contracted", "Nilai kontrak, total (after addenda).")
    paid: Decimal = column("paid", "Realisasi SP2D, total.")
    physical_percent: Decimal | None = column(
        "physical_percent",
        "Realisasi fisik (%), weighted by DPA allocation; null without reports.",
    )
    open_discrepancies: int = column("open_discrepancies", "Ketimpangan yang masih terbuka.")
    unlinked_allocated: Decimal = column(
        "unlinked_allocated",
        "Anggaran DPA of lines whose sub kegiatan is not in the plan (not in `allocated`); "
        "for an OPD, the lines whose source names the OPD.",
    )
    unlinked_paid: Decimal = column(
        "unlinked_paid",
        "Realisasi SP2D of payments linked to no sub kegiatan (not in `paid`); for an OPD, "
        "the payments whose source names the OPD.",
    )
    unlinked_procurement_ceiling: Decimal = column(
        "unlinked_procurement_ceiling",
        "Pagu RUP of packages whose mak names no sub kegiatan of the plan (not in "
        "`procurementCeiling`).",
    )
    row: strawberry.Private[Any]


@row_type(T["region"])
@strawberry.type(description="Pemerintah Daerah (Pemda): a province or a regency/city.")
class Region(Node, RowBacked):
    id: strawberry.ID = node_id()
    code: str = column("code", 'Kode wilayah Kemendagri, e.g. "53", "53.71".')
    name: str = column("name", "Nama Pemda.")
    level: RegionLevel = column("level", "Tingkat: provinsi, kabupaten or kota.")
    parent: Region | None = link(
        rel.REGION_BY_ID, "parent_id", "Provinsi induk of a regency/city; null for a province."
    )
    children: list[Region] = link(
        rel.REGIONS_BY_PARENT, "id", "Kabupaten/kota of a province, by code."
    )
    row: strawberry.Private[Any]

    @strawberry.field(description="OPD of this Pemda (its own, not its regencies'), by code.")
    async def opds(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Opd]:
        ctx = info.context
        page = await resolve.opd_page(
            ctx.access, ctx.settings, region_id=self.row.id, first=first, after=after
        )
        return Connection.from_page(page, Opd.from_row)

    @strawberry.field(
        description="Ringkasan rantai for a fiscal year (tahun anggaran); a province's "
        "summary includes its regencies and cities."
    )
    async def summary(self, info: Info, fiscal_year: int) -> ChainSummary:
        loader = info.context.loaders.custom("region_summary", summaries.region_summary_loader)
        row = await shared(loader.load((self.row.id, fiscal_year)))
        summary: ChainSummary = ChainSummary.from_row(row)
        return summary

    @strawberry.field(
        description="Tindak lanjut of its ketimpangan in a fiscal year (a province's include "
        "its regencies'); null with FORBIDDEN for anonymous viewers."
    )
    async def follow_ups(self, info: Info, fiscal_year: int) -> FollowUpSummary | None:
        return await follow_up_summary(info, "region", self.row.id, fiscal_year)


@row_type(T["opd"])
@strawberry.type(description="Organisasi Perangkat Daerah (OPD / SKPD / satker).")
class Opd(Node, RowBacked):
    id: strawberry.ID = node_id()
    code: str = column("code", 'Kode satker, e.g. "1.03.0.00.0.00.01.0000".')
    name: str = column("name", "Nama OPD.")
    region: Region = link(rel.REGION_BY_ID, "region_id", "Pemda the OPD belongs to.")
    row: strawberry.Private[Any]

    @strawberry.field(description="Sub kegiatan of the OPD in a fiscal year, by code.")
    async def sub_activities(
        self, info: Info, fiscal_year: int, first: int | None = None, after: str | None = None
    ) -> Connection[SubActivity]:
        ctx = info.context
        query = resolve.SubActivityQuery(fiscal_year=fiscal_year, opd_id=self.row.id)
        page = await resolve.sub_activity_page(
            ctx.access, ctx.settings, query, first=first, after=after
        )
        return Connection.from_page(page, SubActivity.from_row)

    @strawberry.field(description="Ringkasan rantai of the OPD for a fiscal year.")
    async def summary(self, info: Info, fiscal_year: int) -> ChainSummary:
        loader = info.context.loaders.custom("opd_summary", summaries.opd_summary_loader)
        row = await shared(loader.load((self.row.id, fiscal_year)))
        summary: ChainSummary = ChainSummary.from_row(row)
        return summary

    @strawberry.field(
        description="Tindak lanjut the OPD was asked for in a fiscal year: assigned, "
        "answered, overdue, median days to answer; null with FORBIDDEN for anonymous viewers."
    )
    async def follow_ups(self, info: Info, fiscal_year: int) -> FollowUpSummary | None:
        return await follow_up_summary(info, "opd", self.row.id, fiscal_year)


@row_type(T["program"])
@strawberry.type(description="Program (nomenklatur Permendagri 90/2019).")
class Program(Node, RowBacked):
    id: strawberry.ID = node_id()
    code: str = column("code", 'Kode program, e.g. "1.03.10".')
    name: str = column("name", "Nama program.")
    row: strawberry.Private[Any]


@row_type(T["activity"])
@strawberry.type(description="Kegiatan: an activity of a program.")
class Activity(Node, RowBacked):
    id: strawberry.ID = node_id()
    code: str = column("code", 'Kode kegiatan, e.g. "1.03.10.1.01".')
    name: str = column("name", "Nama kegiatan.")
    program: Program = link(rel.PROGRAM_BY_ID, "program_id", "Program of the kegiatan.")
    row: strawberry.Private[Any]


@row_type(T["indicator"])
@strawberry.type(description="Indikator kinerja with target and capaian (achievement).")
class Indicator(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    description: str = column("description", "Uraian indikator.")
    unit: str | None = column("unit", "Satuan.")
    target: Decimal | None = column("target", "Target.")
    achieved: Decimal | None = column("achieved", "Capaian (realisasi).")
    row: strawberry.Private[Any]


@row_type(T["sub_activity"])
@strawberry.type(description="Sub kegiatan: every chain hangs from one.")
class SubActivity(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    code: str = column("code", 'Kode sub kegiatan, e.g. "1.03.10.1.01.0031".')
    name: str = column("name", "Nama sub kegiatan.")
    fiscal_year: int = column("fiscal_year", "Tahun anggaran.")
    planned_amount: Decimal | None = column("planned_amount", "Pagu indikatif (RKPD/Renja).")
    opd: Opd = link(rel.OPD_BY_ID, "opd_id", "OPD pelaksana.")
    activity: Activity = link(
        rel.ACTIVITY_BY_ID, "activity_id", "Kegiatan the sub kegiatan belongs to."
    )
    indicators: list[Indicator] = link(rel.INDICATORS_BY_SUB_ACTIVITY, "id", "Indikator kinerja.")
    budget: Annotated[Budget, strawberry.lazy("schema.budget")] = same_row(
        "Anggaran (DPA) and its payments (SP2D)."
    )
    procurement_packages: list[
        Annotated[ProcurementPackage, strawberry.lazy("schema.procurement")]
    ] = link(rel.PACKAGES_BY_SUB_ACTIVITY, "id", "Paket RUP (SiRUP) of the sub kegiatan.")
    progress_reports: list[Annotated[ProgressReport, strawberry.lazy("schema.monev")]] = link(
        rel.PROGRESS_BY_SUB_ACTIVITY, "id", "Laporan e-Monev, oldest period first."
    )
    stage: ChainStage = lookup(
        rel.ROLLUP_BY_SUB_ACTIVITY, "id", "stage", "Tahap rantai: the furthest link that has data."
    )
    discrepancies: list[Annotated[Discrepancy, strawberry.lazy("schema.discrepancy")]] = link(
        rel.DISCREPANCIES_BY_SUB_ACTIVITY, "id", "Ketimpangan found on this sub kegiatan."
    )
    provenance: Provenance = same_row("Asal data (e-planning source).")
    row: strawberry.Private[Any]
