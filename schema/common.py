"""Pieces every domain module shares: the Node interface, enums, PageInfo, connections."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.context import Context
from resolvers.paging import Page


@strawberry.interface(
    description="An object with a global id (id global), fetchable by `node(id)`."
)
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id (id global).")


@strawberry.enum(description="Level of a Pemda: provinsi, kabupaten or kota.")
class RegionLevel(Enum):
    PROVINCE = strawberry.enum_value("PROVINCE", description="Provinsi.")
    REGENCY = strawberry.enum_value("REGENCY", description="Kabupaten.")
    CITY = strawberry.enum_value("CITY", description="Kota.")


@strawberry.enum(description="How far a sub kegiatan has come along the chain (tahap rantai).")
class ChainStage(Enum):
    PLANNED = strawberry.enum_value("PLANNED", description="Direncanakan: only in RKPD/Renja.")
    BUDGETED = strawberry.enum_value("BUDGETED", description="Dianggarkan: DPA allocation.")
    PROCURING = strawberry.enum_value("PROCURING", description="Pengadaan: RUP package exists.")
    CONTRACTED = strawberry.enum_value("CONTRACTED", description="Berkontrak: contract signed.")
    IMPLEMENTING = strawberry.enum_value(
        "IMPLEMENTING", description="Pelaksanaan: progress reported or SP2D paid."
    )
    COMPLETED = strawberry.enum_value("COMPLETED", description="Selesai: 100% fisik.")


@strawberry.enum(description="Severity of a ketimpangan (tingkat keparahan).")
class Severity(Enum):
    INFO = strawberry.enum_value("INFO", description="Informasi.")
    WARNING = strawberry.enum_value("WARNING", description="Peringatan.")
    CRITICAL = strawberry.enum_value("CRITICAL", description="Kritis.")


@strawberry.enum(description="Health of a legacy source (status sumber data).")
class SourceStatus(Enum):
    NEVER_SYNCED = strawberry.enum_value("NEVER_SYNCED", description="Belum pernah disinkronkan.")
    OK = strawberry.enum_value("OK", description="Sinkron terakhir berhasil.")
    DEGRADED = strawberry.enum_value("DEGRADED", description="Sebagian gagal atau terlambat.")
    DOWN = strawberry.enum_value("DOWN", description="Sinkron terakhir gagal.")


@strawberry.enum(description="What a change did to a row (jenis perubahan).")
class ChangeOp(Enum):
    CREATED = strawberry.enum_value("CREATED", description="Dibuat.")
    UPDATED = strawberry.enum_value("UPDATED", description="Diubah.")
    DELETED = strawberry.enum_value("DELETED", description="Dihapus.")
    LOADED = strawberry.enum_value(
        "LOADED",
        description="Dimuat: a first load (baseline) of an entity for a Pemda and fiscal year, "
        "one event for all its rows (`count`); re-query them. Per-row changes follow it.",
    )


@strawberry.type(description="Paging state of a connection (info halaman).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Ada halaman berikutnya.")
    has_previous_page: bool = strawberry.field(
        description="Ada halaman sebelumnya (true when the page was asked for with `after`)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge; pass as `after`."
    )

    @classmethod
    def from_page(cls, page: Page) -> PageInfo:
        return cls(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        )


NodeT = TypeVar("NodeT")


@strawberry.type(description="An item of a page, with its cursor (kursor).")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque cursor (kursor): pass it as `after`.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list (halaman): items, paging state, total.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="Items on this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    page: strawberry.Private[Page]

    @classmethod
    def from_page(cls, page: Page, make: Callable[[Any], Any]) -> Connection[Any]:
        edges = [Edge(cursor=c, node=make(r)) for c, r in zip(page.cursors, page.rows, strict=True)]
        return cls(edges=edges, page_info=PageInfo.from_page(page), page=page)

    @strawberry.field(description="Jumlah total matching the filter, on all pages.")
    async def total_count(self, info: strawberry.Info[Context, None]) -> int:
        return int(await info.context.access.scalar(self.page.count_statement))
