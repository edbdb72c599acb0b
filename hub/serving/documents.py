"""One way from a document to a result, for HTTP and WebSocket alike: parse (with a token
limit), validate (cached; no introspection for anonymous viewers in production; no field
suggestions in production), check the depth, alias and cost limits, execute (with a time
limit) and format errors with stable codes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.language import Visitor, visit
from graphql.validation import NoSchemaIntrospectionCustomRule

from hub.errors import ClientError, ErrorCode

log = logging.getLogger("rantai.graphql")


class LimitExceeded(ClientError):
    def __init__(self, code: ErrorCode, message: str, **extensions: Any) -> None:
        self.code = code
        super().__init__(message, **extensions)


@dataclass(frozen=True)
class Limits:
    max_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_cost: int = 10_000_000
    default_page: int = 50  # `first` when a connection field is asked without one
    list_factor: int = 5  # rows assumed for a plain list field (no `first`)


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document and what is known of it before any variables."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    # Per operation name: the variables the selection below the root field uses.
    render_variables: dict[str | None, frozenset[str]] = field(default_factory=dict)
    depth: int = 0
    aliases: int = 0
    # Operation types by name, known once parsed (even when validation fails).
    operations: dict[str | None, OperationType] = field(default_factory=dict)

    def operation_type(self, name: str | None) -> OperationType | None:
        if name is None and len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return self.operations.get(name)


class Documents:
    """Parse + validate + static limits once per distinct document and mode (LRU)."""

    def __init__(self, schema: strawberry.Schema, limits: Limits, size: int = 512) -> None:
        self.schema = schema
        self.limits = limits
        self.size = size
        self._cache: OrderedDict[tuple[str, bool, bool], Prepared] = OrderedDict()

    def get(self, query: str, *, introspection: bool = True, suggestions: bool = True) -> Prepared:
        key = (query, introspection, suggestions)
        prepared = self._cache.get(key)
        if prepared is not None:
            self._cache.move_to_end(key)
            return prepared
        prepared = self._prepare(query, introspection, suggestions)
        self._cache[key] = prepared
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str, introspection: bool, suggestions: bool) -> Prepared:
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLSyntaxError as syntax:
            error: GraphQLError = syntax
            if "more than" in syntax.message and "tokens" in syntax.message:
                error = LimitExceeded(
                    ErrorCode.TOKEN_LIMIT_EXCEEDED,
                    f"The document has more than {self.limits.max_tokens} tokens.",
                )
            return Prepared(None, [error])
        except RecursionError:
            return Prepared(None, [LimitExceeded(ErrorCode.DEPTH_LIMIT_EXCEEDED, "Too deep.")])
        if "\x00" in query or _has_nul_literal(document):
            return Prepared(None, [_nul_error()])
        kinds = {
            (d.name.value if d.name else None): d.operation
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        }
        rules = list(specified_rules)
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        errors = validate(self.schema._schema, document, rules, hide_suggestions=not suggestions)
        if errors:
            return Prepared(None, list(errors), operations=kinds)
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        render_variables = {
            (d.name.value if d.name else None): _render_variables(d, fragments) for d in operations
        }
        depth = max(_depth(op.selection_set, fragments, 0) for op in operations)
        aliases = _aliases(document)
        problems: list[GraphQLError] = []
        if depth > self.limits.max_depth:
            problems.append(
                LimitExceeded(
                    ErrorCode.DEPTH_LIMIT_EXCEEDED,
                    f"The document is {depth} levels deep; at most {self.limits.max_depth}.",
                    depth=depth,
                )
            )
        if aliases > self.limits.max_aliases:
            problems.append(
                LimitExceeded(
                    ErrorCode.ALIAS_LIMIT_EXCEEDED,
                    f"The document has {aliases} aliases (fragments included); at most "
                    f"{self.limits.max_aliases}.",
                    aliases=aliases,
                )
            )
        if problems:
            return Prepared(None, problems, operations=kinds)
        return Prepared(document, [], render_variables, depth, aliases, kinds)

    def cost(
        self, prepared: Prepared, operation_name: str | None, variables: dict[str, Any]
    ) -> int:
        """Fields weighted by the rows their lists may return (`first`, else a default)."""
        assert prepared.document is not None
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            return 0
        fragments = {
            d.name.value: d
            for d in prepared.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        schema = self.schema._schema
        root = schema.get_root_type(operation.operation)
        return _cost(operation.selection_set, root, schema, fragments, variables, self.limits)

    def check_cost(
        self, prepared: Prepared, operation_name: str | None, variables: dict[str, Any]
    ) -> GraphQLError | None:
        cost = self.cost(prepared, operation_name, variables)
        if cost > self.limits.max_cost:
            return LimitExceeded(
                ErrorCode.COST_LIMIT_EXCEEDED,
                f"The request could return about {cost:,} values; at most "
                f"{self.limits.max_cost:,}. Ask for smaller pages.",
                cost=cost,
            )
        return None


def _nul_error() -> GraphQLError:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it from failing a query.
    return ClientError("Text in a request may not contain NUL (\\u0000) characters.")


def _has_nul_literal(document: DocumentNode) -> bool:
    found = False

    class Find(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            nonlocal found
            if "\x00" in node.value:
                found = True

    visit(document, Find())
    return found


def nul_in(value: Any) -> bool:
    """Whether variables hold a NUL character anywhere."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(nul_in(k) or nul_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(nul_in(v) for v in value)
    return False


def check_variables(variables: dict[str, Any] | None) -> GraphQLError | None:
    return _nul_error() if variables and nul_in(variables) else None


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    level: int,
    seen: frozenset[str] = frozenset(),
) -> int:
    if selection_set is None:
        return level
    deepest = level
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.selection_set is not None:
                deepest = max(deepest, _depth(selection.selection_set, fragments, level + 1, seen))
            else:
                deepest = max(deepest, level + 1)
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, level, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # cycles are a validation error
                deepest = max(
                    deepest, _depth(fragments[name].selection_set, fragments, level, seen | {name})
                )
    return deepest


def _aliases(document: DocumentNode) -> int:
    """Aliases in the whole document, fragments included (each counted where written)."""
    count = 0

    class Count(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            nonlocal count
            if node.alias is not None:
                count += 1

    visit(document, Count())
    return count


def _first(node: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value in ("first", "last"):
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                raw = variables.get(value.name.value)
                return raw if isinstance(raw, int) else None
    return None


def _cost(
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType | None,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    limits: Limits,
    seen: frozenset[str] = frozenset(),
) -> int:
    """Each field counts 1; a list field multiplies what it selects by the rows it may
    return: `first` for connections (else the default page), a fixed factor for lists."""
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1
            if selection.selection_set is None:
                continue
            definition = (
                parent.fields.get(selection.name.value)
                if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
                else None
            )
            field_type = definition.type if definition is not None else None
            factor = 1
            while isinstance(field_type, GraphQLNonNull | GraphQLList):
                if isinstance(field_type, GraphQLList):
                    factor *= limits.list_factor
                field_type = field_type.of_type
            named = field_type if isinstance(field_type, GraphQLNamedType) else None
            if named is not None and named.name.endswith("Connection"):
                first = _first(selection, variables)
                factor = max(first, 1) if first is not None else limits.default_page
            inner = _cost(
                selection.selection_set, named, schema, fragments, variables, limits, seen
            )
            total += factor * inner
        elif isinstance(selection, InlineFragmentNode):
            condition = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition is not None
                else parent
            )
            total += _cost(
                selection.selection_set, condition, schema, fragments, variables, limits, seen
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                fragment = fragments[name]
                condition = schema.get_type(fragment.type_condition.name.value)
                total += _cost(
                    fragment.selection_set, condition, schema, fragments, variables, limits,
                    seen | {name},
                )  # fmt: skip
    return total


def _render_variables(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> frozenset[str]:
    """Variables a rendering of one subscription event can depend on: all those the
    operation uses except in the arguments of its root fields (those only choose the
    stream of events)."""
    used: set[str] = set()
    seen: set[str] = set()

    class Collect(Visitor):
        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            used.add(node.name.value)

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
            name = node.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                visit(fragments[name], Collect())

    def walk_root(selections: Any) -> None:
        for selection in selections:
            for directive in selection.directives or ():
                visit(directive, Collect())
            if isinstance(selection, FieldNode):
                if selection.selection_set is not None:
                    visit(selection.selection_set, Collect())
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    walk_root(fragment.selection_set.selections)
            else:
                walk_root(selection.selection_set.selections)

    walk_root(operation.selection_set.selections)
    return frozenset(used)


class TimedOut(ClientError):
    code = ErrorCode.TIMEOUT


async def run(
    schema: strawberry.Schema,
    document: DocumentNode,
    context: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    *,
    time_limit: float,
    hide_suggestions: bool,
) -> ExecutionResult:
    """Execute a validated query within `time_limit` seconds."""
    try:
        async with asyncio.timeout(time_limit):
            outcome = execute(
                schema._schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                hide_suggestions=hide_suggestions,
            )
            result = await outcome if asyncio.iscoroutine(outcome) else outcome
    except TimeoutError:
        error = TimedOut(f"The request took longer than {time_limit:g} s and was stopped.")
        return ExecutionResult(None, [error])
    assert isinstance(result, ExecutionResult)
    if result.errors:
        schema.process_errors(list(result.errors))
    return result
