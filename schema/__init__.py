"""The GraphQL schema of contract.graphql, built from one module per domain."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from hub.errors import ClientError
from schema.changes import Subscription
from schema.discrepancy import Discrepancy
from schema.planning import Opd, Region, SubActivity
from schema.procurement import Contract, ProcurementPackage, Tender
from schema.query import Query


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors (bad cursor, page too large…) are answers, not incidents to log.
        unexpected = [e for e in errors if not isinstance(e.original_error or e, ClientError)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema() -> strawberry.Schema:
    return Schema(
        query=Query,
        subscription=Subscription,
        types=[Region, Opd, SubActivity, ProcurementPackage, Tender, Contract, Discrepancy],
    )


schema = build_schema()
