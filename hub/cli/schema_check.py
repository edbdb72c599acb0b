"""`rantai schema --check OLD.graphql`: what a change of the schema does to its clients.

graphql-core compares the previous SDL with the current schema: breaking changes (a field,
argument, enum value or type removed, a type changed incompatibly) and dangerous ones (a
default or an argument added, a member added to a union or enum). A field, argument, enum
value or input field may be removed only once the previous schema deprecated it with
`@deprecated(reason: "… YYYY-MM-DD …")`: clients had the release in between to move, and
the date says since when. A rename is a removal and an addition, so it follows the same
rule. Every deprecation in the current schema must carry its date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphql import (
    BreakingChangeType,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)

DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# graphql-core's descriptions of removals (3.3): "Field Query.a was removed.", "Argument
# Query.b(y:) was removed.", "Enum value E.B was removed."
_FIELD = re.compile(r"^Field (\w+)\.(\w+) was removed\.$")
_ARG = re.compile(r"^Argument (\w+)\.(\w+)\((\w+):\) was removed\.$")
_ENUM_VALUE = re.compile(r"^Enum value (\w+)\.(\w+) was removed\.$")


@dataclass
class SchemaReport:
    breaking: list[str] = field(default_factory=list)  # refused: exit 1
    deprecated_removals: list[str] = field(default_factory=list)  # removed after deprecation
    dangerous: list[str] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)  # deprecations without a date: exit 1

    @property
    def failed(self) -> bool:
        return bool(self.breaking or self.undated)

    def lines(self) -> list[str]:
        out = [f"breaking: {line}" for line in self.breaking]
        out += [f"undated deprecation: {line}" for line in self.undated]
        out += [f"removed after deprecation: {line}" for line in self.deprecated_removals]
        out += [f"dangerous: {line}" for line in self.dangerous]
        verdict = "refused" if self.failed else "compatible"
        out.append(
            f"{verdict}: {len(self.breaking)} breaking, {len(self.undated)} undated "
            f"deprecations, {len(self.deprecated_removals)} removals after deprecation, "
            f"{len(self.dangerous)} dangerous"
        )
        return out


def compare(old_sdl: str, new: GraphQLSchema) -> SchemaReport:
    """The report of `new` against the previous schema's SDL."""
    old = build_schema(old_sdl)
    report = SchemaReport(undated=undated_deprecations(new))
    for change in find_breaking_changes(old, new):
        text = f"{change.type.name}: {change.description}"
        reason = _deprecation_in(old, change.type, change.description)
        if reason is not None and DATE.search(reason):
            report.deprecated_removals.append(f"{text} (deprecated: {reason})")
        elif reason is not None:
            report.breaking.append(f"{text} (its deprecation has no date: {reason!r})")
        else:
            report.breaking.append(f"{text} (not deprecated first)")
    report.dangerous = [f"{c.type.name}: {c.description}" for c in find_dangerous_changes(old, new)]
    return report


def _deprecation_in(old: GraphQLSchema, kind: BreakingChangeType, text: str) -> str | None:
    """The old schema's deprecation reason of what a removal took away, if it had one."""
    if kind is BreakingChangeType.FIELD_REMOVED and (m := _FIELD.match(text)):
        named = old.type_map.get(m[1])
        if isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ) and (found := named.fields.get(m[2])):
            reason: str | None = found.deprecation_reason
            return reason
    if kind is BreakingChangeType.ARG_REMOVED and (m := _ARG.match(text)):
        named = old.type_map.get(m[1])
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and (
            owner := named.fields.get(m[2])
        ):
            arg = owner.args.get(m[3])
            return arg.deprecation_reason if arg is not None else None
    if kind is BreakingChangeType.VALUE_REMOVED_FROM_ENUM and (m := _ENUM_VALUE.match(text)):
        named = old.type_map.get(m[1])
        if isinstance(named, GraphQLEnumType) and (value := named.values.get(m[2])):
            enum_reason: str | None = value.deprecation_reason
            return enum_reason
    return None


def undated_deprecations(schema: GraphQLSchema) -> list[str]:
    """Every deprecation of `schema` whose reason names no date (YYYY-MM-DD)."""
    found: list[str] = []

    def check(where: str, reason: str | None) -> None:
        if reason is not None and not DATE.search(reason):
            found.append(f"{where}: {reason!r}")

    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for fname, f in named.fields.items():
                check(f"{name}.{fname}", f.deprecation_reason)
                for aname, arg in f.args.items():
                    check(f"{name}.{fname}({aname})", arg.deprecation_reason)
        elif isinstance(named, GraphQLInputObjectType):
            for fname, f in named.fields.items():
                check(f"{name}.{fname}", f.deprecation_reason)
        elif isinstance(named, GraphQLEnumType):
            for vname, value in named.values.items():
                check(f"{name}.{vname}", value.deprecation_reason)
    return found
