"""The GraphQL schema of contract.graphql, built from one module per domain."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from hub.errors import ClientError
from schema.changes import Subscription
from schema.discrepancy import Discrepancy
from schema.letters import Letter
from schema.mutation import Mutation
from schema.planning import Opd, Region, SubActivity
from schema.procurement import Contract, ProcurementPackage, Tender
from schema.query import Query


def client_error(error: GraphQLError) -> bool:
    """An error the client caused (a bad cursor, a page too large, a variable of the wrong
    type, a field it may not see), as opposed to the hub's own failure: a ClientError, or
    an error graphql-core raised outside any field (coercing variables has no path)."""
    return isinstance(error.original_error or error, ClientError) or not error.path


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors are answers, not incidents: the request path logs them as one
        # line each (hub/serving/responses.py `log_errors`); only the hub's own failures
        # are logged here, with their traceback.
        unexpected = [e for e in errors if not client_error(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema() -> strawberry.Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            Region,
            Opd,
            SubActivity,
            ProcurementPackage,
            Tender,
            Contract,
            Discrepancy,
            Letter,
        ],
    )


schema = build_schema()
