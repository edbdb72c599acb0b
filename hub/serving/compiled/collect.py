"""The fields a selection asks for, merged as graphql-core's execution merges them."""

from __future__ import annotations

from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
)

from hub.serving.compiled.sql import Decline

Collected = dict[str, tuple[str, list[FieldNode]]]  # response key -> (field name, nodes)


def included(node: Any, variables: dict[str, Any]) -> bool:
    """@skip/@include as execution reads them. A null `if` is an error on the ordinary
    path (the argument is Boolean!), so the compiler declines rather than guess."""
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            raise Decline(f"directive @{name}")
        value: Any = None
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                if isinstance(argument.value, BooleanValueNode):
                    value = argument.value.value
                elif isinstance(argument.value, VariableNode):
                    value = variables.get(argument.value.name.value)
        if not isinstance(value, bool):
            raise Decline(f"@{name} without a boolean")
        if value == (name == "skip"):
            return False
    return True


def _matches(schema: GraphQLSchema, condition: str, runtime: GraphQLObjectType) -> bool:
    if condition == runtime.name:
        return True
    named = schema.get_type(condition)
    return isinstance(named, GraphQLInterfaceType) and schema.is_sub_type(named, runtime)


def collect(
    schema: GraphQLSchema,
    selection_sets: list[SelectionSetNode],
    runtime: GraphQLObjectType,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> Collected:
    """The fields of `selection_sets` on `runtime`, by response key, in document order: the
    merging graphql-core's execution does (fragments, inline fragments, @skip and @include,
    the same key asked twice). Like execution, a fragment spread a second time in the same
    selection adds nothing, so a document's size bounds this walk."""
    out: Collected = {}
    visited: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if not included(selection, variables):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                entry = out.get(key)
                if entry is None:
                    out[key] = (selection.name.value, [selection])
                else:
                    entry[1].append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or _matches(schema, condition.name.value, runtime):
                    walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in visited:
                    continue
                visited.add(name)
                if _matches(schema, fragment.type_condition.name.value, runtime):
                    walk(fragment.selection_set)

    for selection_set in selection_sets:
        walk(selection_set)
    return out
