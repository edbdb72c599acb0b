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
        # Expected errors (bad cursor, page too large…) and GraphQL's own (a variable or
        # argument that does not coerce: no original error) are answers, not incidents to
        # log with a traceback.
        unexpected = [
            e
            for e in errors
            if e.original_error is not None and not isinstance(e.original_error, ClientError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema() -> strawberry.Schema:
    return Schema(
        query=Query,
        subscription=Subscription,
        types=[Region, Opd, SubActivity, ProcurementPackage, Tender, Contract, Discrepancy],
    )


schema = build_schema()
