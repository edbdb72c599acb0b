"""Pieces every domain module shares: the Node interface, global ids, enums, PageInfo."""

from __future__ import annotations

import base64
import binascii
from enum import Enum

import strawberry

from hub.errors import BadId
from resolvers.paging import Page


@strawberry.interface(
    description="An object with a global id (id global), fetchable by `node(id)`."
)
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id (id global).")


def global_id(type_name: str, pk: int) -> strawberry.ID:
    raw = f"{type_name}:{pk}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def parse_global_id(value: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, pk = raw.partition(":")
        number = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadId(f"{value!r} is not an id issued by this API.") from None
    if not 0 < number < 2**63:  # ids are positive bigints
        raise BadId(f"{value!r} is not an id issued by this API.")
    return type_name, number


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
