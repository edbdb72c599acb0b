"""Compiled statements per document and shape, kept, and run with each request's values."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import Visitor, visit
from sqlalchemy import Text, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db import driver_connection
from hub.errors import TimedOut
from hub.serving.compiled.collect import Collected, collect
from hub.serving.compiled.compiler import Compiler
from hub.serving.compiled.roots import ROOTS, Bound
from hub.serving.compiled.sql import SQL, Decline
from hub.settings import Settings
from hub.store.freshness import FRESHNESS
from hub.store.scope import Scope

log = logging.getLogger("rantai.compiled")


@dataclass(frozen=True)
class Plan:
    sql: str
    names: tuple[str, ...]  # bind parameter names in $n order
    constants: dict[str, Any]
    # Root response keys in document order, each with its column (None: `__typename`).
    roots: tuple[tuple[str, int | None], ...]
    # Variables bound from each request (arguments below the root), as `var_<name>`.
    variables: frozenset[str] = frozenset()


class CompiledQueries:
    """Answers pure-data queries with one statement; None means "use the ordinary path".

    It never fails a request: anything it cannot prepare, or a statement that fails (a
    stored value the schema refuses, an outage), declines to the ordinary path, which
    answers (and reports errors with their codes). Unexpected failures are logged at
    WARNING with the document's hash.
    """

    def __init__(self, schema: GraphQLSchema, engine: AsyncEngine, settings: Settings) -> None:
        self.schema = schema
        self.engine = engine
        self.settings = settings
        # Plans by document and shape, bounded by bytes (documents and statements can be
        # large) as well as by number.
        self._plans: OrderedDict[tuple[Any, ...], Plan | None] = OrderedDict()
        self.size = 256
        self.max_bytes = 16 * 1024 * 1024
        self.bytes = 0
        self.answered = 0  # requests answered compiled (for tests and benches)
        self.declined: dict[str, int] = {}  # why, for the requests the resolvers answered

    async def answer(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        scope: Scope,
        *,
        time_limit: float,
        engine: AsyncEngine | None = None,
    ) -> ExecutionResult | None:
        """The answer, or None for the ordinary path. `engine`: where to read (a replica),
        else the hub's own."""
        if operation.operation is not OperationType.QUERY:
            return None
        statement = self.statement(document, operation, variables, scope)
        if statement is None:
            return None
        plan, args = statement
        try:
            async with asyncio.timeout(time_limit):
                async with driver_connection(engine or self.engine) as driver:
                    row = await driver.fetchrow(plan.sql, *args)
        except TimeoutError:
            # Not the ordinary path: it would take as long again.
            message = f"The request took longer than {time_limit:g} s and was stopped."
            return ExecutionResult(None, [TimedOut(message)])
        except Exception as exc:  # the ordinary path answers, with the error's code
            log.warning(
                "the compiled statement of document %s failed (%s); the resolvers answer it",
                _document_hash(document),
                type(exc).__name__,
            )
            self._decline("statement failed")
            return None
        if row is None:
            self._decline("no row")
            return None
        data = {
            key: "Query" if column is None else orjson.Fragment(row[column])
            for key, column in plan.roots
        }
        self.answered += 1
        return ExecutionResult(data, None)

    def statement(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        scope: Scope,
    ) -> tuple[Plan, list[Any]] | None:
        """The plan and its arguments for this request, or None (counted as declined)."""
        try:
            prepared = self._prepare(document, operation, variables or {}, scope)
        except Decline as why:
            self._decline(str(why))
            return None
        except Exception:  # a compiler bug must not cost the request its answer
            log.warning(
                "compiling document %s failed; the resolvers answer it",
                _document_hash(document),
                exc_info=True,
            )
            self._decline("compiler error")
            return None
        if prepared is None:
            self._decline("not compiled")
            return None
        plan, values = prepared
        return plan, [values.get(name, plan.constants.get(name)) for name in plan.names]

    def _decline(self, why: str) -> None:
        log.debug("not compiled: %s", why)
        reason = why.split(":")[0][:60]
        self.declined[reason] = self.declined.get(reason, 0) + 1
        if len(self.declined) > 1000:  # reasons name fields; keep the counter bounded
            self.declined.clear()
        return None

    def _prepare(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        raw_variables: dict[str, Any],
        scope: Scope,
    ) -> tuple[Plan, dict[str, Any]] | None:
        coerced = get_variable_values(
            self.schema, operation.variable_definitions or (), raw_variables
        )
        if not isinstance(coerced, VariableValues):
            raise Decline("variables the ordinary path refuses")
        variables = coerced.coerced
        fragments = _fragments(document)
        query_type = self.schema.query_type
        if query_type is None:
            raise Decline("no query type")
        roots = collect(self.schema, [operation.selection_set], query_type, fragments, variables)
        bound: dict[str, Bound] = {}
        values: dict[str, Any] = {FRESHNESS: self.settings.source_freshness_seconds}
        shapes: list[Any] = []
        for index, (key, (name, nodes)) in enumerate(roots.items()):
            if name == "__typename":
                shapes.append((key, name))
                continue
            if name not in ROOTS or len(nodes) != 1:
                raise Decline(f"root field {name}")
            binder, _ = ROOTS[name]
            try:
                args = get_argument_values(query_type.fields[name], nodes[0], coerced)
            except Exception:  # null for a non-null argument and the like: the ordinary
                raise Decline("arguments the ordinary path refuses") from None  # path says
            b = binder(args, self.settings)
            bound[key] = b
            shapes.append((key, name, b.shape))
            for k, v in b.values.items():
                values[f"r{index}_{k}"] = v
        source = document.loc.source.body if document.loc is not None else None
        if source is None:
            raise Decline("no document text")
        directive_values: tuple[Any, ...] = ()
        if "@" in source:
            used = _directive_variables(document)
            directive_values = tuple(
                sorted((k, repr(v)) for k, v in variables.items() if k in used)
            )
        plan_key = (source, operation.name.value if operation.name else None, scope.cache_key,
                    tuple(shapes), directive_values)  # fmt: skip
        if plan_key in self._plans:
            self._plans.move_to_end(plan_key)
            plan = self._plans[plan_key]
        else:
            try:
                plan = self._build(roots, bound, fragments, variables, scope, query_type)
            except Decline as why:
                log.debug("not compiled: %s", why)
                plan = None
            self._plans[plan_key] = plan
            self.bytes += _weight(plan_key, plan)
            while self.bytes > self.max_bytes or len(self._plans) > self.size:
                old_key, old_plan = self._plans.popitem(last=False)
                self.bytes -= _weight(old_key, old_plan)
        if plan is None:
            return None
        for name in plan.variables:
            value = variables.get(name)
            if isinstance(value, bool) or not isinstance(value, int):
                # null (or absent) for a non-null argument: the ordinary path says so.
                raise Decline("a variable below the root the ordinary path refuses")
            values[f"var_{name}"] = value
        return plan, values

    def _build(
        self,
        roots: Collected,
        bound: dict[str, Bound],
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        scope: Scope,
        query_type: GraphQLObjectType,
    ) -> Plan:
        columns: list[SQL] = []
        order: list[tuple[str, int | None]] = []
        bound_variables: set[str] = set()
        for index, (key, (name, nodes)) in enumerate(roots.items()):
            if name == "__typename":
                order.append((key, None))
                continue
            compiler = Compiler(
                self.schema, scope, fragments, variables, self.settings, f"r{index}_"
            )
            _, build = ROOTS[name]
            root_type = get_named_type(query_type.fields[name].type)
            expression = build(compiler, bound[key], nodes, root_type)
            bound_variables |= compiler.variables_bound
            order.append((key, len(columns)))
            text = func.coalesce(cast(expression, Text), literal_column("'null'"))  # no row
            columns.append(text.label(f"c{len(columns)}"))
        if not columns:
            raise Decline("nothing to compile")
        statement = select(*columns)
        compiled = statement.compile(dialect=self.engine.dialect)
        names = tuple(compiled.positiontup or ())
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        return Plan(str(compiled), names, constants, tuple(order), frozenset(bound_variables))


def _weight(key: tuple[Any, ...], plan: Plan | None) -> int:
    return len(key[0]) + (len(plan.sql) if plan is not None else 0)


def _document_hash(document: DocumentNode) -> str:
    body = document.loc.source.body if document.loc is not None else ""
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _directive_variables(document: DocumentNode) -> frozenset[str]:
    """Variables used in @skip/@include anywhere: their values shape the statement."""
    found: set[str] = set()

    class Find(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    found.add(argument.value.name.value)

    visit(document, Find())
    return frozenset(found)
