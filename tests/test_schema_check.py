"""`rantai schema --check OLD.graphql`: breaking and dangerous changes against a previous SDL,
and the deprecation rule (a removal needs a dated deprecation in the previous schema)."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema

from hub.cli.schema_check import compare, undated_deprecations
from schema import schema
from tests.test_cli import run

COMMITTED = Path(__file__).parent.parent / "docs" / "schema.graphql"
CURRENT = COMMITTED.read_text()


def with_extra_query_field(sdl: str, directive: str = "") -> str:
    """The SDL with a Query field the current schema does not have (so: one it removed)."""
    return sdl.replace("type Query {", f"type Query {{\n  legacyTotal: Int {directive}\n", 1)


def test_the_committed_sdl_is_compatible_with_the_schema() -> None:
    result = run("schema", "--check", str(COMMITTED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == (
        "compatible: 0 breaking, 0 undated deprecations, 0 removals after deprecation, 0 dangerous"
    )


def test_a_field_removed_without_deprecation_is_breaking_and_exits_1(tmp_path: Path) -> None:
    old = tmp_path / "old.graphql"
    old.write_text(with_extra_query_field(CURRENT))
    result = run("schema", "--check", str(old))
    assert result.returncode == 1
    assert (
        "breaking: FIELD_REMOVED: Field Query.legacyTotal was removed. (not deprecated first)"
        in (result.stdout.splitlines())
    )


def test_a_field_removed_after_a_dated_deprecation_is_allowed() -> None:
    old = with_extra_query_field(CURRENT, '@deprecated(reason: "Use summary; since 2026-01-15.")')
    report = compare(old, schema._schema)
    assert report.breaking == []
    assert report.deprecated_removals == [
        "FIELD_REMOVED: Field Query.legacyTotal was removed. "
        "(deprecated: Use summary; since 2026-01-15.)"
    ]
    assert not report.failed


def test_a_deprecation_without_a_date_does_not_allow_the_removal() -> None:
    old = with_extra_query_field(CURRENT, '@deprecated(reason: "Use summary.")')
    report = compare(old, schema._schema)
    assert report.failed
    assert report.breaking == [
        "FIELD_REMOVED: Field Query.legacyTotal was removed. (its deprecation has no date: "
        "'Use summary.')"
    ]


def test_a_removed_enum_value_and_argument_follow_the_same_rule() -> None:
    old = CURRENT.replace(
        "  COMPLETED\n",
        '  COMPLETED\n\n  ARCHIVED @deprecated(reason: "Gone since 2026-02-01")\n',
        1,
    ).replace(
        "regions(level: RegionLevel = null)", "regions(level: RegionLevel = null, all: Boolean)"
    )
    report = compare(old, schema._schema)
    assert report.deprecated_removals == [
        "VALUE_REMOVED_FROM_ENUM: Enum value ChainStage.ARCHIVED was removed. "
        "(deprecated: Gone since 2026-02-01)"
    ]
    assert report.breaking == [
        "ARG_REMOVED: Argument Query.regions(all:) was removed. (not deprecated first)"
    ]


def test_an_added_enum_value_is_dangerous_but_compatible() -> None:
    old = CURRENT.replace('  """Selesai: 100% fisik."""\n  COMPLETED\n', "", 1)
    report = compare(old, schema._schema)
    assert not report.failed
    assert report.dangerous == ["VALUE_ADDED_TO_ENUM: Enum value ChainStage.COMPLETED was added."]


def test_every_deprecation_must_name_its_date() -> None:
    sdl = """type Query {
      a: Int @deprecated(reason: "Use b.")
      b(x: Int @deprecated(reason: "since 2026-03-01")): Int
    }
    enum E { ON OFF @deprecated(reason: "no date") }
    input I { x: Int @deprecated(reason: "nope") }"""
    assert undated_deprecations(build_schema(sdl)) == [
        "Query.a: 'Use b.'",
        "E.OFF: 'no date'",
        "I.x: 'nope'",
    ]
    assert undated_deprecations(schema._schema) == []
    assert re.search(r"\d{4}-\d{2}-\d{2}", "since 2026-03-01")
