"""Planning: Pemda (region), OPD, program, kegiatan, sub kegiatan, indicators, summaries."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Row

from hub.store import relations as rel
from resolvers import planning as resolve
from resolvers.context import Context
from resolvers.paging import Page
from schema.common import ChainStage, Node, PageInfo, RegionLevel, global_id
from schema.source import Provenance

if TYPE_CHECKING:
    from schema.budget import Budget
    from schema.discrepancy import Discrepancy
    from schema.monev import ProgressReport
    from schema.procurement import ProcurementPackage

Info = strawberry.Info[Context, None]


@strawberry.type(description="Ringkasan rantai: plan → budget → procurement → payment totals.")
class ChainSummary:
    sub_activities: int = strawberry.field(description="Jumlah sub kegiatan.")
    planned_amount: Decimal = strawberry.field(description="Pagu indikatif (RKPD/Renja), total.")
    allocated: Decimal = strawberry.field(description="Anggaran DPA, total.")
    procurement_ceiling: Decimal = strawberry.field(description="Pagu RUP (SiRUP), total.")
    contracted: Decimal = strawberry.field(description="Nilai kontrak, total (after addenda).")
    paid: Decimal = strawberry.field(description="Realisasi SP2D, total.")
    physical_percent: Decimal | None = strawberry.field(
        description="Realisasi fisik (%), weighted by DPA allocation; null without reports."
    )
    open_discrepancies: int = strawberry.field(description="Ketimpangan yang masih terbuka.")

    @classmethod
    def from_row(cls, row: Row[Any]) -> ChainSummary:
        return cls(
            sub_activities=row.sub_activities,
            planned_amount=row.planned_amount,
            allocated=row.allocated,
            procurement_ceiling=row.procurement_ceiling,
            contracted=row.contracted,
            paid=row.paid,
            physical_percent=row.physical_percent,
            open_discrepancies=row.open_discrepancies,
        )


@strawberry.type(description="Pemerintah Daerah (Pemda): a province or a regency/city.")
class Region(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    code: str = strawberry.field(description='Kode wilayah Kemendagri, e.g. "53", "53.71".')
    name: str = strawberry.field(description="Nama Pemda.")
    level: RegionLevel = strawberry.field(description="Tingkat: provinsi, kabupaten or kota.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Region:
        return cls(
            id=global_id("Region", row.id),
            code=row.code,
            name=row.name,
            level=RegionLevel(row.level),
            row=row,
        )

    @strawberry.field(description="Provinsi induk of a regency/city; null for a province.")
    async def parent(self, info: Info) -> Region | None:
        row = await info.context.loaders.one(rel.REGION_BY_ID, self.row.parent_id)
        return Region.from_row(row) if row else None

    @strawberry.field(description="Kabupaten/kota of a province, by code.")
    async def children(self, info: Info) -> list[Region]:
        rows = await info.context.loaders.many(rel.REGIONS_BY_PARENT, self.row.id)
        return [Region.from_row(row) for row in rows]

    @strawberry.field(description="OPD of this Pemda (its own, not its regencies'), by code.")
    async def opds(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> OpdConnection:
        ctx = info.context
        page = await resolve.opd_page(
            ctx.access, ctx.settings, region_id=self.row.id, first=first, after=after
        )
        return OpdConnection.from_page(page, Opd.from_row)

    @strawberry.field(
        description="Ringkasan rantai for a fiscal year (tahun anggaran); a province's "
        "summary includes its regencies and cities."
    )
    async def summary(self, info: Info, fiscal_year: int) -> ChainSummary:
        loader = info.context.loaders.custom("region_summary", resolve.region_summary_loader)
        return ChainSummary.from_row(await loader.load((self.row.id, fiscal_year)))


@strawberry.type(description="Organisasi Perangkat Daerah (OPD / SKPD / satker).")
class Opd(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    code: str = strawberry.field(description='Kode satker, e.g. "1.03.0.00.0.00.01.0000".')
    name: str = strawberry.field(description="Nama OPD.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Opd:
        return cls(id=global_id("Opd", row.id), code=row.code, name=row.name, row=row)

    @strawberry.field(description="Pemda the OPD belongs to.")
    async def region(self, info: Info) -> Region:
        row = await info.context.loaders.one(rel.REGION_BY_ID, self.row.region_id)
        assert row is not None
        return Region.from_row(row)

    @strawberry.field(description="Sub kegiatan of the OPD in a fiscal year, by code.")
    async def sub_activities(
        self, info: Info, fiscal_year: int, first: int | None = None, after: str | None = None
    ) -> SubActivityConnection:
        ctx = info.context
        query = resolve.SubActivityQuery(fiscal_year=fiscal_year, opd_id=self.row.id)
        page = await resolve.sub_activity_page(
            ctx.access, ctx.settings, query, first=first, after=after
        )
        return SubActivityConnection.from_page(page, SubActivity.from_row)

    @strawberry.field(description="Ringkasan rantai of the OPD for a fiscal year.")
    async def summary(self, info: Info, fiscal_year: int) -> ChainSummary:
        loader = info.context.loaders.custom("opd_summary", resolve.opd_summary_loader)
        return ChainSummary.from_row(await loader.load((self.row.id, fiscal_year)))


@strawberry.type(description="Program (nomenklatur Permendagri 90/2019).")
class Program:
    code: str = strawberry.field(description='Kode program, e.g. "1.03.10".')
    name: str = strawberry.field(description="Nama program.")


@strawberry.type(description="Kegiatan: an activity of a program.")
class Activity:
    code: str = strawberry.field(description='Kode kegiatan, e.g. "1.03.10.1.01".')
    name: str = strawberry.field(description="Nama kegiatan.")
    row: strawberry.Private[Row[Any]]

    @strawberry.field(description="Program of the kegiatan.")
    async def program(self, info: Info) -> Program:
        row = await info.context.loaders.one(rel.PROGRAM_BY_ID, self.row.program_id)
        assert row is not None
        return Program(code=row.code, name=row.name)


@strawberry.type(description="Indikator kinerja with target and capaian (achievement).")
class Indicator:
    description: str = strawberry.field(description="Uraian indikator.")
    unit: str | None = strawberry.field(description="Satuan.")
    target: Decimal | None = strawberry.field(description="Target.")
    achieved: Decimal | None = strawberry.field(description="Capaian (realisasi).")


@strawberry.type(description="Sub kegiatan: every chain hangs from one.")
class SubActivity(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    code: str = strawberry.field(description='Kode sub kegiatan, e.g. "1.03.10.1.01.0031".')
    name: str = strawberry.field(description="Nama sub kegiatan.")
    fiscal_year: int = strawberry.field(description="Tahun anggaran.")
    planned_amount: Decimal | None = strawberry.field(description="Pagu indikatif (RKPD/Renja).")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> SubActivity:
        return cls(
            id=global_id("SubActivity", row.id),
            code=row.code,
            name=row.name,
            fiscal_year=row.fiscal_year,
            planned_amount=row.planned_amount,
            row=row,
        )

    @strawberry.field(description="OPD pelaksana.")
    async def opd(self, info: Info) -> Opd:
        row = await info.context.loaders.one(rel.OPD_BY_ID, self.row.opd_id)
        assert row is not None
        return Opd.from_row(row)

    @strawberry.field(description="Kegiatan the sub kegiatan belongs to.")
    async def activity(self, info: Info) -> Activity:
        row = await info.context.loaders.one(rel.ACTIVITY_BY_ID, self.row.activity_id)
        assert row is not None
        return Activity(code=row.code, name=row.name, row=row)

    @strawberry.field(description="Indikator kinerja.")
    async def indicators(self, info: Info) -> list[Indicator]:
        rows = await info.context.loaders.many(rel.INDICATORS_BY_SUB_ACTIVITY, self.row.id)
        return [
            Indicator(description=r.description, unit=r.unit, target=r.target, achieved=r.achieved)
            for r in rows
        ]

    @strawberry.field(description="Anggaran (DPA) and its payments (SP2D).")
    def budget(self) -> Annotated[Budget, strawberry.lazy("schema.budget")]:
        from schema.budget import Budget

        return Budget(sub_activity_id=self.row.id)

    @strawberry.field(description="Paket RUP (SiRUP) of the sub kegiatan.")
    async def procurement_packages(
        self, info: Info
    ) -> list[Annotated[ProcurementPackage, strawberry.lazy("schema.procurement")]]:
        from schema.procurement import ProcurementPackage

        rows = await info.context.loaders.many(rel.PACKAGES_BY_SUB_ACTIVITY, self.row.id)
        return [ProcurementPackage.from_row(row) for row in rows]

    @strawberry.field(description="Laporan e-Monev, oldest period first.")
    async def progress_reports(
        self, info: Info
    ) -> list[Annotated[ProgressReport, strawberry.lazy("schema.monev")]]:
        from schema.monev import ProgressReport

        rows = await info.context.loaders.many(rel.PROGRESS_BY_SUB_ACTIVITY, self.row.id)
        return [ProgressReport.from_row(row) for row in rows]

    @strawberry.field(description="Tahap rantai: the furthest link that has data.")
    async def stage(self, info: Info) -> ChainStage:
        row = await info.context.loaders.one(rel.ROLLUP_BY_SUB_ACTIVITY, self.row.id)
        assert row is not None
        return ChainStage(row.stage)

    @strawberry.field(description="Ketimpangan found on this sub kegiatan.")
    async def discrepancies(
        self, info: Info
    ) -> list[Annotated[Discrepancy, strawberry.lazy("schema.discrepancy")]]:
        from schema.discrepancy import Discrepancy

        rows = await info.context.loaders.many(rel.DISCREPANCIES_BY_SUB_ACTIVITY, self.row.id)
        return [Discrepancy.from_row(row) for row in rows]

    @strawberry.field(description="Asal data (e-planning source).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "SubActivity")


@strawberry.type(description="An OPD in a connection, with its cursor.")
class OpdEdge:
    cursor: str = strawberry.field(description="Opaque cursor (kursor).")
    node: Opd = strawberry.field(description="The OPD.")


@strawberry.type(description="A page of OPD (daftar OPD).")
class OpdConnection:
    edges: list[OpdEdge] = strawberry.field(description="OPD on this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    page: strawberry.Private[Page]

    @classmethod
    def from_page(cls, page: Page, make: Any) -> OpdConnection:
        edges = [
            OpdEdge(cursor=c, node=make(r)) for c, r in zip(page.cursors, page.rows, strict=True)
        ]
        return cls(edges=edges, page_info=PageInfo.from_page(page), page=page)

    @strawberry.field(description="Jumlah total OPD matching the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        return int(await info.context.access.scalar(self.page.count_statement))


@strawberry.type(description="A sub kegiatan in a connection, with its cursor.")
class SubActivityEdge:
    cursor: str = strawberry.field(description="Opaque cursor (kursor).")
    node: SubActivity = strawberry.field(description="The sub kegiatan.")


@strawberry.type(description="A page of sub kegiatan (daftar sub kegiatan).")
class SubActivityConnection:
    edges: list[SubActivityEdge] = strawberry.field(description="Sub kegiatan on this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    page: strawberry.Private[Page]

    @classmethod
    def from_page(cls, page: Page, make: Any) -> SubActivityConnection:
        edges = [
            SubActivityEdge(cursor=c, node=make(r))
            for c, r in zip(page.cursors, page.rows, strict=True)
        ]
        return cls(edges=edges, page_info=PageInfo.from_page(page), page=page)

    @strawberry.field(description="Jumlah total sub kegiatan matching the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        return int(await info.context.access.scalar(self.page.count_statement))
