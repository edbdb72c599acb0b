"""The root Query of contract.graphql."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from hub.auth import Role
from hub.errors import Forbidden
from hub.store import relations as rel
from hub.store.codec import parse_global_id
from resolvers import discrepancy as discrepancies_resolve
from resolvers import planning as planning_resolve
from resolvers import procurement as procurement_resolve
from resolvers.context import Context
from schema.admin import Admin, roles
from schema.agenda import AgendaItem, agenda_items
from schema.common import ChainStage, Connection, Node, RegionLevel, Severity
from schema.discrepancy import Discrepancy, check_rule
from schema.fields import ROW_TYPES
from schema.followup import FollowUpState
from schema.letters import Letter, LetterKind
from schema.planning import Opd, Region, SubActivity
from schema.procurement import ProcurementPackage, Tender, Vendor
from schema.source import Source

Info = strawberry.Info[Context, None]


@strawberry.input(description="Saring sub kegiatan.")
class SubActivityFilter:
    fiscal_year: int = strawberry.field(description="Tahun anggaran.")
    region_code: str | None = strawberry.field(
        default=None, description="Kode wilayah; a province code includes its regencies."
    )
    opd_code: str | None = strawberry.field(
        default=None,
        description="Kode OPD; with regionCode, the OPD of that Pemda only (codes repeat).",
    )
    stage: ChainStage | None = strawberry.field(default=None, description="Tahap rantai.")
    search: str | None = strawberry.field(
        default=None, description="Text in the name (nama) or code (kode)."
    )
    has_discrepancies: bool | None = strawberry.field(
        default=None, description="Only those with (true) or without (false) open ketimpangan."
    )


@strawberry.input(description="Saring ketimpangan.")
class DiscrepancyFilter:
    fiscal_year: int | None = strawberry.field(default=None, description="Tahun anggaran.")
    region_code: str | None = strawberry.field(
        default=None, description="Kode wilayah; a province code includes its regencies."
    )
    opd_code: str | None = strawberry.field(
        default=None,
        description="Kode OPD; with regionCode, the OPD of that Pemda only (codes repeat).",
    )
    rule: str | None = strawberry.field(default=None, description="Kode aturan.")
    severity: Severity | None = strawberry.field(default=None, description="Tingkat keparahan.")
    open: bool | None = strawberry.field(
        default=None, description="Only open (true) or only resolved (false)."
    )
    follow_up_state: FollowUpState | None = strawberry.field(
        default=None, description="Only those whose tindak lanjut is in this state."
    )
    overdue: bool | None = strawberry.field(
        default=None,
        description="Only those whose OPD's answer is past its due date (true), or not (false).",
    )


@strawberry.input(description="Saring paket RUP.")
class ProcurementPackageFilter:
    fiscal_year: int = strawberry.field(description="Tahun anggaran.")
    region_code: str | None = strawberry.field(
        default=None, description="Kode wilayah; a province code includes its regencies."
    )
    opd_code: str | None = strawberry.field(
        default=None,
        description="Kode OPD; with regionCode, the OPD of that Pemda only (codes repeat).",
    )


@strawberry.input(description="Saring surat (E-Surat).")
class LetterFilter:
    region_code: str | None = strawberry.field(
        default=None, description="Kode wilayah; a province code includes its regencies."
    )
    kind: LetterKind | None = strawberry.field(default=None, description="Jenis surat.")
    linked: bool | None = strawberry.field(
        default=None,
        description="Only letters whose contract or tender is known (true), or those kept "
        "unlinked (false): their count is `totalCount`.",
    )
    contract_number: str | None = strawberry.field(
        default=None, description="Nomor kontrak the letters name."
    )


@strawberry.type(
    name="Viewer",
    description="Pengguna: the role and scope of the credentials this request came with, so "
    "a client shows what they may do (the API checks it again on every request).",
)
class ViewerInfo:
    role: str = strawberry.field(
        description="Peran: province, inspector, regency, opd, public or admin."
    )
    region_code: str | None = strawberry.field(description="Kode Pemda of its scope.")
    opd_code: str | None = strawberry.field(description="Kode OPD of its scope (opd role).")
    authenticated: bool = strawberry.field(
        description="False for the anonymous viewer (no credentials)."
    )


@strawberry.type(description="Rantai: the plan → budget → procurement → monev chain.")
class Query:
    @strawberry.field(description="Who this request is (peran and scope); never a secret.")
    def viewer(self, info: Info) -> ViewerInfo:
        v = info.context.viewer
        return ViewerInfo(
            role=v.role.value,
            region_code=v.region_code,
            opd_code=v.opd_code,
            authenticated=v.authenticated,
        )

    @strawberry.field(description="Any object by its global id; null when there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, pk = parse_global_id(id)
        if type_name == "Vendor" and pk < 0:  # a payee known only by its payment
            return await _inline_payee(info, -pk)
        kind = ROW_TYPES.get(type_name)
        if (
            kind is None
            or not issubclass(kind.cls, Node)  # rows without an id of their own
            or kind.table is None
            or "id" not in kind.table.c
        ):
            return None
        row = await info.context.loaders.one(rel.by_id(kind.table), pk)
        node: Node | None = kind.cls.from_row(row) if row else None
        return node

    @strawberry.field(description="Pemda, by code; all levels unless `level` is given.")
    async def regions(self, info: Info, level: RegionLevel | None = None) -> list[Region]:
        rows = await planning_resolve.regions(info.context.access, level.name if level else None)
        return [Region.from_row(row) for row in rows]

    @strawberry.field(description='One Pemda by its Kemendagri code ("53", "53.71").')
    async def region(self, info: Info, code: str) -> Region | None:
        row = await planning_resolve.region_by_code(info.context.access, code)
        return Region.from_row(row) if row else None

    @strawberry.field(description="One OPD by (kode wilayah, kode satker).")
    async def opd(self, info: Info, region_code: str, code: str) -> Opd | None:
        row = await planning_resolve.opd_by_code(info.context.access, region_code, code)
        return Opd.from_row(row) if row else None

    @strawberry.field(
        description="OPD by code; a province `regionCode` includes its regencies' OPD."
    )
    async def opds(
        self,
        info: Info,
        region_code: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Opd]:
        ctx = info.context
        page = await planning_resolve.opd_page(
            ctx.access, ctx.settings, region_code=region_code, first=first, after=after
        )
        return Connection.from_page(page, Opd.from_row)

    @strawberry.field(description="One sub kegiatan by (kode wilayah, tahun anggaran, kode).")
    async def sub_activity(
        self, info: Info, region_code: str, fiscal_year: int, code: str
    ) -> SubActivity | None:
        row = await planning_resolve.sub_activity_by_code(
            info.context.access, region_code, fiscal_year, code
        )
        return SubActivity.from_row(row) if row else None

    @strawberry.field(description="Sub kegiatan matching the filter, by code.")
    async def sub_activities(
        self,
        info: Info,
        filter: SubActivityFilter,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SubActivity]:
        ctx = info.context
        query = planning_resolve.SubActivityQuery(
            fiscal_year=filter.fiscal_year,
            region_code=filter.region_code,
            opd_code=filter.opd_code,
            stage=filter.stage.name if filter.stage else None,
            search=filter.search,
            has_discrepancies=filter.has_discrepancies,
        )
        page = await planning_resolve.sub_activity_page(
            ctx.access, ctx.settings, query, first=first, after=after
        )
        return Connection.from_page(page, SubActivity.from_row)

    @strawberry.field(description="One paket RUP by kode RUP.")
    async def procurement_package(self, info: Info, rup_code: str) -> ProcurementPackage | None:
        row = await procurement_resolve.package_by_rup_code(info.context.access, rup_code)
        return ProcurementPackage.from_row(row) if row else None

    @strawberry.field(
        description="Paket RUP of a fiscal year, by id; the OCDS export and downloads page "
        "through it."
    )
    async def procurement_packages(
        self,
        info: Info,
        filter: ProcurementPackageFilter,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ProcurementPackage]:
        ctx = info.context
        query = procurement_resolve.PackageQuery(
            fiscal_year=filter.fiscal_year, region_code=filter.region_code, opd_code=filter.opd_code
        )
        page = await procurement_resolve.package_page(
            ctx.access, ctx.settings, query, first=first, after=after
        )
        return Connection.from_page(page, ProcurementPackage.from_row)

    @strawberry.field(description="One tender by kode tender.")
    async def tender(self, info: Info, code: str) -> Tender | None:
        row = await procurement_resolve.tender_by_code(info.context.access, code)
        return Tender.from_row(row) if row else None

    @strawberry.field(description="Ketimpangan matching the filter, newest last.")
    async def discrepancies(
        self,
        info: Info,
        filter: DiscrepancyFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Discrepancy]:
        ctx = info.context
        f = filter or DiscrepancyFilter()
        check_rule(f.rule)
        query = discrepancies_resolve.DiscrepancyQuery(
            fiscal_year=f.fiscal_year,
            region_code=f.region_code,
            opd_code=f.opd_code,
            rule=f.rule,
            severity=f.severity.name if f.severity else None,
            open=f.open,
            follow_up_state=f.follow_up_state.name if f.follow_up_state else None,
            overdue=f.overdue,
        )
        page = await discrepancies_resolve.discrepancy_page(
            ctx.access, ctx.settings, query, first=first, after=after
        )
        return Connection.from_page(page, Discrepancy.from_row)

    @strawberry.field(description="Surat (E-Surat) matching the filter, by id.")
    async def letters(
        self,
        info: Info,
        filter: LetterFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Letter]:
        ctx = info.context
        f = filter or LetterFilter()
        query = procurement_resolve.LetterQuery(
            region_code=f.region_code,
            kind=f.kind.name if f.kind else None,
            linked=f.linked,
            contract_number=f.contract_number,
        )
        page = await procurement_resolve.letter_page(
            ctx.access, ctx.settings, query, first=first, after=after
        )
        return Connection.from_page(page, Letter.from_row)

    @strawberry.field(
        description="Agenda (E-Jadwal) of a Pemda (a province: and its regencies), or of one "
        "of its OPD, between two days (at most 400: a fiscal year and its last Form A): "
        "tender stages, contract ends, e-Monev Form A deadlines, follow-up due dates and DPA "
        "realisation milestones, by date."
    )
    async def agenda(
        self,
        info: Info,
        region_code: str,
        from_: Annotated[date, strawberry.argument(name="from", description="Dari tanggal.")],
        to: Annotated[date, strawberry.argument(description="Sampai tanggal (inclusive).")],
        opd_code: str | None = None,
    ) -> list[AgendaItem]:
        return await agenda_items(info, region_code, opd_code, from_, to)

    @strawberry.field(description="Sumber data and their health.")
    async def sources(self, info: Info) -> list[Source]:
        rows = await procurement_resolve.sources(info.context.access)
        return [Source.from_row(row) for row in rows]

    @strawberry.field(
        description="Konsol operator: keys, audit log, sources in full, the compiled path "
        "(an `admin` key only; anyone else gets FORBIDDEN, HTTP 403, and no data).",
        metadata=roles(Role.ADMIN),
    )
    def admin(self, info: Info) -> Admin:
        if info.context.viewer.role is not Role.ADMIN or not info.context.viewer.authenticated:
            raise Forbidden("`admin` needs an API key of role admin.")
        return Admin()


async def _inline_payee(info: Info, payment_id: int) -> Vendor | None:
    """The payee written on payment `payment_id` (no vendor row), if the viewer may see it."""
    row = await info.context.loaders.one(rel.PAYMENT_BY_ID, payment_id)
    if row is None or row.payee_vendor_id is not None or row.payee_name is None:
        return None
    if not info.context.access.scope.sees_field("Payment.payee"):
        return None
    return Vendor.inline(row.id, row.payee_name, row.payee_tax_id)
