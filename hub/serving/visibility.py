"""What a viewer may run and see of a document, worked out once per document and kept on
it: the roles its root fields need (the `admin` field and the operators' mutations: anyone
else is refused with FORBIDDEN, HTTP 403, before anything runs), and for the public viewer
the places where the schema hides rows (`extensions.hidden`), with a one-line hint of what
a key adds (`extensions.viewer`).

Both are read from the document and the schema only, never from the answer, so the
compiled path and the resolvers carry the same extensions, and a viewer who sees
everything (province, admin) pays one identity check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from sqlalchemy.sql.elements import False_

from hub.auth import Role, Viewer
from hub.serving.documents import Prepared
from hub.store.scope import EVERYTHING, Scope
from schema.admin import ROLES
from schema.fields import ROW_TYPES

PUBLIC_HINT = (
    "You are the public viewer: the published chain and every summary. An API key "
    "(Authorization: Bearer rk_…) adds DPA lines, SP2D payments and payees, e-Monev reports, "
    "ketimpangan and NPWP, within its role's Pemda or OPD."
)
PUBLIC_VIEWER = {"role": Role.PUBLIC.value, "hint": PUBLIC_HINT}


def viewer_extension(viewer: Viewer) -> dict[str, str] | None:
    """`extensions.viewer` for a viewer with the public role (no credentials, or a public
    key); None for the others."""
    return PUBLIC_VIEWER if viewer.role is Role.PUBLIC else None


def forbidden_root(
    schema: GraphQLSchema, prepared: Prepared, operation: OperationDefinitionNode, viewer: Viewer
) -> tuple[str, frozenset[Role]] | None:
    """The first root field of `operation` that `viewer` may not call, with the roles that
    may, or None."""
    key = ("roles", operation.name.value if operation.name else None)
    needed: tuple[tuple[str, frozenset[Role]], ...] | None = prepared.memo.get(key)
    if needed is None:
        needed = prepared.memo[key] = tuple(_root_roles(schema, prepared, operation))
    for name, allowed in needed:
        if not viewer.authenticated or viewer.role not in allowed:
            return name, allowed
    return None


def _root_roles(
    schema: GraphQLSchema, prepared: Prepared, operation: OperationDefinitionNode
) -> Iterator[tuple[str, frozenset[Role]]]:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return
    fragments = prepared.fragments()
    for node in _fields(operation.selection_set, fragments, set()):
        definition = root.fields.get(node.name.value)
        if definition is None:
            continue
        strawberry_field = (definition.extensions or {}).get("strawberry-definition")
        allowed = (getattr(strawberry_field, "metadata", None) or {}).get(ROLES)
        if allowed is not None:
            yield node.name.value, allowed


def _fields(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[FieldNode]:
    """The fields of a selection set, fragments at this level expanded."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                yield from _fields(fragment.selection_set, fragments, seen | {name})


def hidden_paths(
    schema: GraphQLSchema, prepared: Prepared, operation: OperationDefinitionNode, scope: Scope
) -> list[str]:
    """Response paths (dotted, without list indices) of the fields whose rows `scope` sees
    none of: the public viewer's `lines`, `payments`, `progressReports`, `discrepancies`.
    Their lists come back empty (or null) by design, and the response says so."""
    if scope is EVERYTHING:
        return []
    key = ("hidden", operation.name.value if operation.name else None, scope.cache_key)
    found: list[str] | None = prepared.memo.get(key)
    if found is None:
        root = schema.get_root_type(operation.operation)
        found = []
        if root is not None:
            walk = _Walk(schema, scope, prepared.fragments())
            walk.selection(operation.selection_set, root, "")
            found = walk.found
        prepared.memo[key] = found
    return found


_HIDES: dict[tuple[str, str], bool] = {}


def _hides(scope: Scope, type_name: str) -> bool:
    """Whether `scope` sees no row at all of the table behind GraphQL type `type_name`."""
    key = (scope.cache_key, type_name)
    hidden = _HIDES.get(key)
    if hidden is None:
        kind = ROW_TYPES.get(type_name)
        hidden = (
            kind is not None
            and kind.table is not None
            and isinstance(scope.predicate(kind.table), False_)
        )
        _HIDES[key] = hidden
    return hidden


def _rows_of(named: Any) -> Any:
    """The type of a field's rows: a connection's node type, else the type itself."""
    edges = getattr(named, "fields", {}).get("edges")
    if edges is not None:
        node = getattr(get_named_type(edges.type), "fields", {}).get("node")
        if node is not None:
            return get_named_type(node.type)
    return named


class _Walk:
    def __init__(
        self, schema: GraphQLSchema, scope: Scope, fragments: dict[str, FragmentDefinitionNode]
    ) -> None:
        self.schema = schema
        self.scope = scope
        self.fragments = fragments
        self.found: list[str] = []

    def selection(self, selections: SelectionSetNode, parent: Any, path: str) -> None:
        for node in self._flatten(selections, parent, set(), path):
            field_node, owner = node
            definition = owner.fields.get(field_node.name.value)
            if definition is None:  # __typename
                continue
            name = field_node.alias.value if field_node.alias else field_node.name.value
            here = f"{path}.{name}" if path else name
            named = get_named_type(definition.type)
            if _hides(self.scope, _rows_of(named).name):
                self._add(here)
            elif field_node.selection_set is not None and isinstance(
                named, GraphQLObjectType | GraphQLInterfaceType
            ):
                self.selection(field_node.selection_set, named, here)

    def _flatten(
        self, selections: SelectionSetNode, parent: Any, seen: set[str], path: str
    ) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
                continue
            if isinstance(selection, InlineFragmentNode):
                fragment: InlineFragmentNode | FragmentDefinitionNode | None = selection
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name) if name not in seen else None
                seen = seen | {name}
            else:  # pragma: no cover - graphql-core has no other selection
                continue
            if fragment is None:
                continue
            on = parent
            if fragment.type_condition is not None:
                on = self.schema.get_type(fragment.type_condition.name.value) or parent
                if _hides(self.scope, on.name):  # `node(id) { ... on Payment }`
                    self._add(path)
                    continue
            yield from self._flatten(fragment.selection_set, on, seen, path)

    def _add(self, path: str) -> None:
        if path not in self.found:
            self.found.append(path)
