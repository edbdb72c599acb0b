"""Documents: parse (with a token limit), validate (no introspection for anonymous viewers
in production, no suggestions in production) and the static limits, once per distinct
document and mode, kept in a cache bounded by bytes; and the cost of a request, which
depends on its variables.

Every measure of a document (depth, expanded fields, cost) is computed once per fragment
and saturates at its limit: a document whose fragments spread each other twice per level
("fragment bombs") doubles its size at every level, and expanding it spread by spread took
seconds of the event loop for 900 bytes. Memoised, each measure is linear in the document's
size, and the bomb is refused in microseconds.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import Visitor, visit
from graphql.validation import NoSchemaIntrospectionCustomRule

from hub.errors import ClientError, ErrorCode, LimitExceeded
from hub.serving.overlap import MergeWork

log = logging.getLogger("rantai.graphql")


@dataclass(frozen=True)
class Limits:
    max_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_fields: int = 2_000  # field selections once every fragment is expanded
    max_merge_comparisons: int = 4_000  # pairs of same-key fields validation compares
    max_cost: int = 10_000_000
    max_variable_depth: int = 16  # nesting of lists and objects in `variables`
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
    fields: int = 0
    # Operation types by name, known once parsed (even when validation fails).
    operations: dict[str | None, OperationType] = field(default_factory=dict)
    # What the request path works out once per document (roles its root fields need, what
    # a scope cannot see of it): hub/serving/visibility.py.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def operation_type(self, name: str | None) -> OperationType | None:
        if name is None and len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return self.operations.get(name)

    def fragments(self) -> dict[str, FragmentDefinitionNode]:
        if self.document is None:
            return {}
        return _fragments(self.document)


class Documents:
    """Parse + validate + static limits once per distinct document and mode (LRU).

    The cache is bounded by the bytes of the documents it holds, not by their number, and a
    refused document is never kept: a client sending distinct large documents can neither
    grow the process nor evict what others use with documents that do not run.
    """

    def __init__(
        self, schema: strawberry.Schema, limits: Limits, max_bytes: int = 32 * 1024 * 1024
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.max_bytes = max_bytes
        self.bytes = 0
        self._cache: OrderedDict[tuple[str, bool, bool], Prepared] = OrderedDict()
        self._sizes: dict[tuple[str, bool, bool], int] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def get(self, query: str, *, introspection: bool = True, suggestions: bool = True) -> Prepared:
        key = (query, introspection, suggestions)
        prepared = self._cache.get(key)
        if prepared is not None:
            self._cache.move_to_end(key)
            return prepared
        prepared = self._prepare(query, introspection, suggestions)
        size = footprint(query)
        if prepared.document is not None and size <= self.max_bytes // 8:
            self._cache[key] = prepared
            self._sizes[key] = size
            self.bytes += size
            while self.bytes > self.max_bytes:
                old, _ = self._cache.popitem(last=False)
                self.bytes -= self._sizes.pop(old)
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
        # The limits first: measuring is linear and cheap (0.3 ms for a 30-level fragment
        # bomb), validation is not (4 ms for the same document), and a document over a
        # limit is refused either way.
        shape = Shape(document)
        try:
            errors = limit_errors(shape, self.limits)
        except RecursionError:  # nested past the interpreter's stack: far past the limit
            errors = [LimitExceeded(ErrorCode.DEPTH_LIMIT_EXCEEDED, "Too deep.")]
        merging = MergeWork(document, self.limits.max_merge_comparisons)
        if not errors and not merging.within_budget():
            errors = [
                LimitExceeded(
                    ErrorCode.COST_LIMIT_EXCEEDED,
                    "The document repeats fields under one response key too often (fragments "
                    "included): ask for each field once.",
                )
            ]
        if errors:
            return Prepared(None, errors, operations=kinds)
        rules = list(specified_rules)
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        errors = validate(self.schema._schema, document, rules, hide_suggestions=not suggestions)
        if errors:
            for error in errors:  # "Variable '$x' is never used." included: not an input error
                code = ErrorCode.GRAPHQL_VALIDATION_FAILED.value
                error.extensions = {"code": code, **(error.extensions or {})}
            return Prepared(None, list(errors), operations=kinds)
        fragments = _fragments(document)
        render_variables = {
            (d.name.value if d.name else None): _render_variables(d, fragments)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        }
        return Prepared(
            document, [], render_variables, shape.depth(), shape.aliases, shape.fields(), kinds
        )

    def cost(
        self, prepared: Prepared, operation_name: str | None, variables: dict[str, Any]
    ) -> int:
        """The values the request could return at most (see `Cost`; saturates just above
        `max_cost`); 0 when execution will refuse the operation or its variables anyway."""
        if prepared.document is None:
            return 0
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            return 0
        schema = self.schema._schema
        # The values execution will use: defaults applied, 10.0 taken as the Int 10.
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            return 0  # execution refuses the variables, naming them
        cost = Cost(schema, prepared.fragments(), coerced, self.limits)
        return cost.of(operation.selection_set, schema.get_root_type(operation.operation))

    def check_cost(
        self, prepared: Prepared, operation_name: str | None, variables: dict[str, Any]
    ) -> GraphQLError | None:
        """COST_LIMIT_EXCEEDED when the request could return more values than allowed."""
        if self.cost(prepared, operation_name, variables) > self.limits.max_cost:
            return cost_exceeded(self.limits.max_cost)
        return None


def cost_exceeded(limit: int, why: str = "") -> GraphQLError:
    return LimitExceeded(
        ErrorCode.COST_LIMIT_EXCEEDED,
        f"The request could return more than {limit:,} values{why}. Ask for smaller pages.",
    )


_TOKEN = re.compile(r"[_A-Za-z0-9]+|\.\.\.|[^\s,]")
TOKEN_BYTES = 500  # memory a parsed token costs in the cache: its node, location, token


def footprint(query: str) -> int:
    """The memory a cached document takes, estimated from its text: a parsed document
    holds several hundred bytes per token (measured with tracemalloc in
    tests/test_hardening.py), far more than its characters."""
    return len(query) + TOKEN_BYTES * len(_TOKEN.findall(query))


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


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


def check_variables(variables: dict[str, Any] | None, limits: Limits) -> GraphQLError | None:
    """BAD_USER_INPUT for variables nested deeper than the limit or holding a NUL character.

    Iterative, so no input can exhaust the interpreter's stack (a 400-deep list raised a
    RecursionError here, answered as a bare HTTP 500 with a 96 KB traceback in the log).
    """
    if not variables:
        return None
    stack: list[tuple[Any, int]] = [(variables, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return _nul_error()
        elif isinstance(value, dict | list):
            if depth > limits.max_variable_depth:
                log.info("refused variables nested more than %d levels", limits.max_variable_depth)
                return ClientError(
                    f"`variables` are nested more than {limits.max_variable_depth} levels deep."
                )
            if isinstance(value, dict):
                stack.extend((k, depth) for k in value)
                stack.extend((v, depth + 1) for v in value.values())
            else:
                stack.extend((v, depth + 1) for v in value)
    return None


def _saturating(limit: int) -> Callable[[int, int], int]:
    cap = limit + 1

    def add(a: int, b: int) -> int:
        return min(a + b, cap)

    return add


class Shape:
    """Depth, aliases and expanded field count of a valid document, each fragment measured
    once (a spread counts its fragment's measure wherever it appears)."""

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.fragments = _fragments(document)
        self.operations = [
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        self.aliases = _aliases(document)
        self._depth: dict[str, int] = {}
        self._fields: dict[str, int] = {}
        self._cap = 10**9

    def depth(self) -> int:
        return max((self._depth_of(op.selection_set, set()) for op in self.operations), default=0)

    def fields(self) -> int:
        add = _saturating(self._cap)
        total = 0
        for op in self.operations:
            total = add(total, self._fields_of(op.selection_set, set(), add))
        return total

    def _depth_of(self, selection_set: SelectionSetNode, busy: set[str]) -> int:
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                below = (
                    self._depth_of(selection.selection_set, busy)
                    if selection.selection_set is not None
                    else 0
                )
                deepest = max(deepest, 1 + below)
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self._depth_of(selection.selection_set, busy))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment(selection.name.value, busy, self._depth))
        return deepest

    def _fields_of(
        self, selection_set: SelectionSetNode, busy: set[str], add: Callable[[int, int], int]
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total = add(total, 1)
                if selection.selection_set is not None:
                    total = add(total, self._fields_of(selection.selection_set, busy, add))
            elif isinstance(selection, InlineFragmentNode):
                total = add(total, self._fields_of(selection.selection_set, busy, add))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in self._fields and name in self.fragments and name not in busy:
                    busy.add(name)
                    self._fields[name] = self._fields_of(
                        self.fragments[name].selection_set, busy, add
                    )
                    busy.discard(name)
                total = add(total, self._fields.get(name, 0))
        return total

    def _fragment(self, name: str, busy: set[str], memo: dict[str, int]) -> int:
        if name in memo:
            return memo[name]
        if name not in self.fragments or name in busy:  # cycles fail validation anyway
            return 0
        busy.add(name)
        memo[name] = self._depth_of(self.fragments[name].selection_set, busy)
        busy.discard(name)
        return memo[name]


def limit_errors(shape: Shape, limits: Limits) -> list[GraphQLError]:
    """Depth, aliases and expanded fields over their limits, each with its code."""
    errors: list[GraphQLError] = []
    depth = shape.depth()
    if depth > limits.max_depth:
        errors.append(
            LimitExceeded(
                ErrorCode.DEPTH_LIMIT_EXCEEDED,
                f"The document is {depth} levels deep; at most {limits.max_depth}.",
                depth=depth,
            )
        )
    if shape.aliases > limits.max_aliases:
        errors.append(
            LimitExceeded(
                ErrorCode.ALIAS_LIMIT_EXCEEDED,
                f"The document has {shape.aliases} aliases (fragments included); at most "
                f"{limits.max_aliases}.",
                aliases=shape.aliases,
            )
        )
    if shape.fields() > limits.max_fields:
        errors.append(
            LimitExceeded(
                ErrorCode.COST_LIMIT_EXCEEDED,
                f"The document expands to more than {limits.max_fields:,} fields once its "
                "fragments are spread.",
            )
        )
    return errors


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


class Cost:
    """Each field counts 1; a list field multiplies what it selects by the rows it may
    return: `first` for connections (else the default page), a fixed factor for plain lists.
    Each fragment is costed once per request (its cost does not depend on where it is
    spread), and sums saturate just above the limit."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.add = _saturating(limits.max_cost)
        self.cap = limits.max_cost + 1
        self._memo: dict[str, int] = {}
        self._busy: set[str] = set()

    def of(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> int:
        total = 0
        for selection in selection_set.selections:
            if total >= self.cap:
                return self.cap
            if isinstance(selection, FieldNode):
                total = self.add(total, self._field(selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition is not None
                    else parent
                )
                total = self.add(total, self.of(selection.selection_set, condition))
            elif isinstance(selection, FragmentSpreadNode):
                total = self.add(total, self._fragment(selection.name.value))
        return total

    def _fragment(self, name: str) -> int:
        if name in self._memo:
            return self._memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._busy:
            return 0
        self._busy.add(name)
        condition = self.schema.get_type(fragment.type_condition.name.value)
        self._memo[name] = self.of(fragment.selection_set, condition)
        self._busy.discard(name)
        return self._memo[name]

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        if node.selection_set is None:
            return 1
        definition = (
            parent.fields.get(node.name.value)
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
            else None
        )
        field_type = definition.type if definition is not None else None
        factor = 1
        while isinstance(field_type, GraphQLNonNull | GraphQLList):
            if isinstance(field_type, GraphQLList):
                factor *= self.limits.list_factor
            field_type = field_type.of_type
        named = field_type if isinstance(field_type, GraphQLNamedType) else None
        if named is not None and named.name.endswith("Connection") and definition is not None:
            first = self._first(node, definition)
            factor = max(first, 1) if first is not None else self.limits.default_page
        inner = self.of(node.selection_set, named)
        return min(1 + factor * inner, self.cap)

    def _first(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The page size the field will be executed with: its `first` (or `last`) as a
        literal, a coerced variable or the argument's default."""
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            return None  # execution refuses the argument
        first = arguments.get("first", arguments.get("last"))
        return first if isinstance(first, int) and not isinstance(first, bool) else None


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

    root_fragments: set[str] = set()

    def walk_root(selections: Any) -> None:
        for selection in selections:
            for directive in selection.directives or ():
                visit(directive, Collect())
            if isinstance(selection, FieldNode):
                if selection.selection_set is not None:
                    visit(selection.selection_set, Collect())
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in root_fragments:
                    root_fragments.add(name)
                    walk_root(fragment.selection_set.selections)
            else:
                walk_root(selection.selection_set.selections)

    walk_root(operation.selection_set.selections)
    return frozenset(used)
