"""The GraphQL schema of contract.graphql, built from one module per domain."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from schema.discrepancy import Discrepancy
from schema.planning import Opd, Region, SubActivity
from schema.procurement import Contract, ProcurementPackage, Tender
from schema.query import Query


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        types=[Region, Opd, SubActivity, ProcurementPackage, Tender, Contract, Discrepancy],
        extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)],
    )


schema = build_schema()
