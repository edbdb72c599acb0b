"""Monitoring and evaluation (e-Monev): progress reports per period."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import Row

from schema.source import Provenance


@strawberry.type(description="Laporan e-Monev (Form A): realisasi for one period.")
class ProgressReport:
    period: str = strawberry.field(description='Periode, "2025-Q2" or "2025-06".')
    physical_percent: Decimal = strawberry.field(description="Realisasi fisik (%).")
    financial_percent: Decimal = strawberry.field(description="Realisasi keuangan (%).")
    problems: str | None = strawberry.field(description="Permasalahan.")
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> ProgressReport:
        return cls(
            period=row.period,
            physical_percent=row.physical_percent,
            financial_percent=row.financial_percent,
            problems=row.problems,
            row=row,
        )

    @strawberry.field(description="Asal data (monev spreadsheet).")
    def provenance(self) -> Provenance:
        return Provenance.from_row(self.row, "ProgressReport")
