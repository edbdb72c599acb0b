"""Monitoring and evaluation (e-Monev): progress reports per period."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry

from hub.store import relations as rel
from schema.common import Connection, Node
from schema.fields import RowBacked, column, node_id, row_type, same_row
from schema.history import EntityChange, history_field
from schema.source import Provenance


@row_type(rel.T["progress_report"])
@strawberry.type(description="Laporan e-Monev (Form A): realisasi for one period.")
class ProgressReport(Node, RowBacked):
    id: strawberry.ID = node_id()
    history: Connection[EntityChange] = history_field()
    period: str = column("period", 'Periode, "2025-Q2" or "2025-06".')
    physical_percent: Decimal = column("physical_percent", "Realisasi fisik (%).")
    financial_percent: Decimal = column("financial_percent", "Realisasi keuangan (%).")
    problems: str | None = column("problems", "Permasalahan.")
    provenance: Provenance = same_row("Asal data (monev spreadsheet).")
    row: strawberry.Private[Any]
