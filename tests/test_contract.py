"""The served schema keeps every name and type of docs/contract.graphql (clients rely on
them), and every type and field carries a description."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from schema import schema as served_schema

CONTRACT = Path(__file__).parent.parent / "docs" / "contract.graphql"
# Served by later issues; listed so that nothing else can go missing silently.
LATER: dict[str, str] = {}
LATER_FIELDS: dict[str, str] = {}


@pytest.fixture(scope="module")
def contract() -> GraphQLSchema:
    return build_schema(CONTRACT.read_text())


@pytest.fixture(scope="module")
def served() -> GraphQLSchema:
    # Rebuilt from the printed SDL: what clients see, in graphql-core's own classes.
    return build_schema(served_schema.as_str())


def contract_types(contract: GraphQLSchema) -> list[str]:
    return sorted(
        name for name in contract.type_map if not name.startswith("__") and name not in LATER
    )


def test_every_contract_type_is_served_with_its_kind(
    contract: GraphQLSchema, served: GraphQLSchema
) -> None:
    for name in contract_types(contract):
        assert name in served.type_map, name
        assert type(served.type_map[name]) is type(contract.type_map[name]), name


def test_every_contract_field_and_argument_has_the_same_type(
    contract: GraphQLSchema, served: GraphQLSchema
) -> None:
    for name in contract_types(contract):
        want = contract.type_map[name]
        have = served.type_map[name]
        if isinstance(want, GraphQLObjectType | GraphQLInterfaceType):
            assert isinstance(have, GraphQLObjectType | GraphQLInterfaceType)
            assert {i.name for i in want.interfaces} <= {i.name for i in have.interfaces}, name
            for field_name, field in want.fields.items():
                if f"{name}.{field_name}" in LATER_FIELDS:
                    continue
                assert field_name in have.fields, f"{name}.{field_name}"
                served_field = have.fields[field_name]
                assert str(served_field.type) == str(field.type), f"{name}.{field_name}"
                for arg_name, arg in field.args.items():
                    assert arg_name in served_field.args, f"{name}.{field_name}({arg_name})"
                    assert str(served_field.args[arg_name].type) == str(arg.type), arg_name
                extra_required = [
                    a
                    for a, v in served_field.args.items()
                    if a not in field.args and str(v.type).endswith("!") and v.default_value is None
                ]
                assert not extra_required, f"{name}.{field_name} requires {extra_required}"
        elif isinstance(want, GraphQLInputObjectType):
            assert isinstance(have, GraphQLInputObjectType)
            assert {f: str(v.type) for f, v in want.fields.items()} == {
                f: str(v.type) for f, v in have.fields.items() if f in want.fields
            }, name
        elif isinstance(want, GraphQLEnumType):
            assert isinstance(have, GraphQLEnumType)
            assert set(want.values) == set(have.values), name


def test_every_type_and_field_is_described(served: GraphQLSchema) -> None:
    missing = []
    for name, graphql_type in served.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        for field_name, field in getattr(graphql_type, "fields", {}).items():
            if not field.description:
                missing.append(f"{name}.{field_name}")
    assert missing == []


def test_money_is_a_decimal_string_scalar() -> None:
    from decimal import Decimal

    decimal = served_schema._schema.type_map["Decimal"]
    assert decimal.serialize(Decimal("1250000000.00")) == "1250000000.00"  # type: ignore[attr-defined]


def test_the_error_code_reference_is_current() -> None:
    from hub.errors import reference

    written = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    assert written == reference(), "print it again: hub.errors.reference() > docs/errors.md"


def test_the_printed_schema_is_committed() -> None:
    """docs/schema.graphql is what clients see; a schema change comes with it, so a review
    shows the change (and `rantai schema --check` can compare against it)."""
    committed = (Path(__file__).parent.parent / "docs" / "schema.graphql").read_text()
    assert committed == served_schema.as_str() + "\n", (
        "the schema changed: print it again with `rantai schema > docs/schema.graphql`"
    )
