"""`rantai sources scaffold`: a draft mapping file for a source the hub has never seen.

It reads what the source holds (`adapters.inspect`: tables or sheets, columns, types,
samples, counts), recognises each table's canonical entity and each field's column from the
names legacy systems use (`adapters.vocabulary`), detects the formats the sample values
need (`adapters.guess`: Indonesian or English numbers, dates, codes, closed vocabularies, a
payment kind inside the SP2D number, an account code over numbered columns, a period
written as its quarter), proposes a watermark only where an updated-at column looks
maintained (keyed diff otherwise), brings a missing code in by a join where an id column
leads to it, and writes the draft with a `# TODO:` at every guess it is not sure of.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.base import Adapter, EntityQuery, SourceConfig, open_adapter
from adapters.guess import (
    EntityGuess,
    Guess,
    account_parts,
    candidates,
    field_rule,
    is_period,
    kind_from_number,
    period_from_quarter,
    watermark,
    year_column,
)
from adapters.http_json import HttpJsonAdapter, HttpQuery
from adapters.inspect import ColumnProfile, TableProfile, profile, tables
from adapters.records import ENTITIES as SPECS
from adapters.spreadsheet import SpreadsheetAdapter
from adapters.vocabulary import ENTITIES, normal

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YEAR = re.compile(r"^(19|20)\d\d$")


@dataclass
class Scaffold:
    text: str
    todos: int
    entities: list[tuple[str, str]]  # (entity, table or sheet)
    unrecognised: list[str] = field(default_factory=list)
    tables: list[TableProfile] = field(default_factory=list)  # what the source holds


@dataclass
class SourceDraft:
    """The `[source]` table of the draft."""

    id: str
    name: str
    kind: str
    location: str  # url, or path as written in the file
    region: str | None
    region_todo: str | None = None
    extra: tuple[str, ...] = ()  # more [source] lines (an API key's header)
    endpoints: tuple[HttpQuery, ...] = ()  # http-json: the paths to read a page of


async def scaffold(config: SourceConfig, draft: SourceDraft, now: datetime) -> Scaffold:
    """Read the source behind `config` and write its draft mapping."""
    adapter = open_adapter(config)
    await adapter.open()
    try:
        cells: dict[str, dict[str, str]] = {}
        if isinstance(adapter, HttpJsonAdapter):
            profiles = await _endpoints(adapter, draft.endpoints)
        else:
            profiles, cells = await _profiles(adapter)
    finally:
        await adapter.close()
    guesses, unrecognised = choose(profiles, cells)
    for guess in guesses:
        complete(guess, cells.get(guess.table.name, {}), now, config.kind)
    text, todos = render(draft, guesses, unrecognised)
    chosen = [(g.entity, g.table.name) for g in guesses]
    return Scaffold(text, todos, chosen, unrecognised, profiles)


# ------------------------------------------------------------------------------ reading


async def _profiles(adapter: Adapter) -> tuple[list[TableProfile], dict[str, dict[str, str]]]:
    profiles: list[TableProfile] = []
    cells: dict[str, dict[str, str]] = {}
    for name, query in await tables(adapter):
        if isinstance(adapter, SpreadsheetAdapter):
            _, top = await adapter.top_rows(query.sheet, 30)
            header, found = _layout(top)
            query = replace(query, header_row=header, cells=tuple(found.values()))
            cells[name] = found
        profiles.append(await profile(adapter, name, query))
    return profiles, cells


async def _endpoints(
    adapter: HttpJsonAdapter, endpoints: tuple[HttpQuery, ...]
) -> list[TableProfile]:
    """One page of each endpoint: where its records are, how it pages, its fields."""
    profiles: list[TableProfile] = []
    adapter.memo = {}  # one page, read once
    for endpoint in endpoints:
        found, arrays = await adapter.discover(endpoint)
        one_page = EntityQuery(http=replace(found, paging="none"))
        table = await profile(adapter, endpoint.path, one_page)
        table.query = EntityQuery(http=found)
        table.notes.append("read from one page; the API pages by " + found.paging)
        table.notes += [
            f"{name}: an array of objects in each record; map its elements as rows of an "
            f'entity of their own with each = "{name}"'
            for name in arrays
        ]
        profiles.append(table)
    return profiles


def _http_lines(http: HttpQuery) -> list[str]:
    lines = [f"path = {_value(http.path)}"]
    if http.params:
        inline = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in http.params)
        lines.append(f"params = {{ {inline} }}")
    if http.records:
        lines.append(f"records = {_value(http.records)}")
    lines.append(f"paging = {_value(http.paging)}")
    defaults = HttpQuery(path="/")
    for name in ("cursor_path", "has_more_path"):
        value = getattr(http, name)
        if http.paging != "none" and value and value != getattr(defaults, name):
            lines.append(f"{name} = {_value(value)}")
    if http.paging != "none":
        lines.append(f"limit = {http.limit}")
    return lines


def _layout(rows: list[Any]) -> tuple[int, dict[str, str]]:
    """The header row of a sheet (the first of the rows with the most titles, text only,
    that has a row below it), and the cells above it that hold header data: the year."""

    def filled(row: Any) -> list[Any]:
        return [v for v in (row or ()) if v is not None and str(v).strip()]

    header, most = 1, 0
    for number, row in enumerate(rows, start=1):
        values = filled(row)
        below = rows[number] if number < len(rows) else ()
        if all(isinstance(v, str) for v in values) and len(values) > most and filled(below):
            header, most = number, len(values)
    found: dict[str, str] = {}
    for number, row in enumerate(rows[: header - 1], start=1):
        values = list(row or ())
        labelled = any(isinstance(v, str) and "tahun" in v.lower() for v in values)
        for index, value in enumerate(values):
            text = str(int(value)) if isinstance(value, int | float) else str(value or "")
            if _YEAR.match(text.strip()) and (labelled or "fiscal_year" not in found):
                found["fiscal_year"] = f"{_letters(index)}{number}"
    return header, found


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# ------------------------------------------------------------------------------ choosing


def choose(
    profiles: list[TableProfile], cells: dict[str, dict[str, str]]
) -> tuple[list[EntityGuess], list[str]]:
    """Each table's entity (a Renja table may hold the indicator too); a table whose keys
    another table gives through a shared id column is read joined to it."""
    chosen: list[EntityGuess] = []
    unrecognised: list[str] = []
    for table in profiles:
        found = candidates(table)
        joined = _joined(table, profiles)
        if joined is not None and (not found or joined.score > found[0].score):
            found = [joined]
        if not found:
            unrecognised.append(table.name)
            continue
        best = found[0]
        close = [g for g in found[1:] if g.score > best.score - 1 and g.entity != best.entity]
        if close:
            best.todo = (
                f"table {table.name} could also be {close[0].entity}: check the entity "
                "(and its fields)"
            )
        chosen.append(best)
        if best.entity == "sub_activity":
            indicator = next((g for g in found if g.entity == "indicator"), None)
            if indicator is not None and {"description", "target"} <= indicator.matched:
                chosen.append(indicator)
    seen: dict[str, str] = {}
    for guess in chosen:
        if guess.entity in seen and guess.entity != "indicator":
            guess.todo = (
                f"{guess.entity} is read from table {seen[guess.entity]} too: keep both "
                "streams, or drop one"
            )
        seen.setdefault(guess.entity, guess.table.name)
    return chosen, unrecognised


def _joined(table: TableProfile, profiles: list[TableProfile]) -> EntityGuess | None:
    """The table read with the key columns another table has for the same id (SIPD's
    indicators name their sub kegiatan by `id_sub_giat`, not by code)."""
    ids = [c.name for c in table.columns if normal(c.name).startswith("id_")]
    best: EntityGuess | None = None
    for other in profiles:
        if other is table or not table.query.table or not other.query.table:
            continue
        for column in ids:
            if other.column(column) is None or column == _own_id(table):
                continue
            if not all(_IDENTIFIER.match(n) for n in (table.name, other.name, column)):
                continue
            added = [c for c in other.columns if table.column(c.name) is None]
            extended = TableProfile(
                table.name, table.query, [*table.columns, *added], table.rows, table.sample
            )
            for guess in candidates(extended):
                used = {g.value for g in guess.fields.values() if isinstance(g.value, str)}
                borrowed = [c.name for c in added if c.name in used]
                if not borrowed or (best is not None and guess.score <= best.score):
                    continue
                guess.table = TableProfile(
                    table.name,
                    table.query,
                    [*table.columns, *(c for c in added if c.name in borrowed)],
                    table.rows,
                    table.sample,
                )
                select = ", ".join(f"p.{c}" for c in borrowed)
                guess.query = (
                    f"SELECT t.*, {select} FROM {table.name} t "
                    f"JOIN {other.name} p ON p.{column} = t.{column}"
                )
                guess.todo = (
                    f"{', '.join(borrowed)} come from {other.name} by {column}: check the join"
                )
                best = guess
                break
    return best


def _own_id(table: TableProfile) -> str | None:
    """`id_capaian` of `data_capaian`: the table's own id, not a link."""
    name = normal(table.name)
    for column in table.columns:
        tail = normal(column.name).removeprefix("id_")
        if normal(column.name).startswith("id_") and tail and tail in name:
            return column.name
    return None


# ------------------------------------------------------------------------------ fields


def complete(guess: EntityGuess, cells: dict[str, str], now: datetime, kind: str) -> None:
    """The options, constants and special forms each field needs; the watermark."""
    spec = SPECS[guess.entity]
    table = guess.table
    fields = guess.fields
    if guess.entity in ("budget_line", "payment"):
        parts = account_parts(table)
        found_account = fields.get("account_code")
        if parts is not None and (
            found_account is None or found_account.value in parts.value["concat"]
        ):
            fields["account_code"] = parts  # one segment per column: joined by dots
    if guess.entity == "payment" and "kind" not in fields:
        number = fields.get("sp2d_number")
        found = kind_from_number(table, number.value if number else None)
        if found is not None:
            fields["kind"] = found
    if "fiscal_year" in ENTITIES[guess.entity][1] and "fiscal_year" not in fields:
        if "fiscal_year" in cells:
            fields["fiscal_year"] = Guess({"cell": cells["fiscal_year"]})
        elif (column := year_column(table)) is not None:
            fields["fiscal_year"] = Guess(column.name, f"years in column {column.name!r}")
        elif "fiscal_year" in spec.required:
            fields["fiscal_year"] = Guess(
                {"const": now.year}, "no year column: the fiscal year of every row"
            )
    if guess.entity == "indicator" and "seq" not in fields:
        fields["seq"] = Guess({"const": 1}, "one indicator per row: its number")
    if guess.entity == "progress_report" and "period" in fields:
        period = fields["period"]
        column = table.column(period.value) if isinstance(period.value, str) else None
        if column is not None and not is_period(column):
            year = fields.get("fiscal_year")
            quarter = period_from_quarter(table, column, year)
            fields["period"] = quarter or Guess(
                period.value, "periods must read 2025-Q2 or 2025-06: build them with concat"
            )
    for name, rule in list(fields.items()):
        field_spec = spec.field(name)
        column = table.column(rule.value) if isinstance(rule.value, str) else None
        if field_spec is not None and column is not None:
            fields[name] = field_rule(field_spec, column, rule)
    if kind in ("postgresql", "mariadb", "mysql", "sqlite"):
        guess.watermark, guess.watermark_note = watermark(table, now)


# ------------------------------------------------------------------------------ writing


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key, ensure_ascii=False)


def render(
    source: SourceDraft, guesses: list[EntityGuess], unrecognised: list[str]
) -> tuple[str, int]:
    todos = 0
    lines = [
        "# Draft written by `rantai sources scaffold`. Review each line marked TODO (change",
        "# it or delete the comment), then run `rantai sources check`; docs/mappings.md says",
        "# what every option does.",
        "[source]",
        f"id = {_value(source.id)}",
        f"name = {_value(source.name)}",
        f"kind = {_value(source.kind)}",
        f"{'path' if source.kind in ('xlsx', 'csv') else 'url'} = {_value(source.location)}",
        *source.extra,
    ]
    if source.region is None:
        lines.append('region = ""  # TODO: the Pemda code (53.18) of this source')
        todos += 1
    else:
        lines.append(f"region = {_value(source.region)}" + _todo(source.region_todo))
        todos += source.region_todo is not None
    for guess in guesses:
        table = guess.table
        unused = [
            c.name
            for c in table.columns
            if c.name not in _columns_used(guess) and c.name != guess.watermark
        ]
        lines += ["", f"# {table.name}: {table.rows:,} rows"]
        if unused:
            lines.append(f"# not mapped: {', '.join(unused)}")
        if guess.watermark_note:
            lines.append(f"# {guess.watermark_note}")
        lines += [f"# {note}" for note in table.notes]
        lines += ["[[entity]]", f"name = {_value(guess.entity)}" + _todo(guess.todo)]
        todos += guess.todo is not None
        if guess.query is not None:
            lines.append(f"query = {_value(guess.query)}")
        elif table.query.http is not None:
            lines += _http_lines(table.query.http)
        elif table.query.table:
            lines.append(f"table = {_value(table.query.table)}")
        elif table.query.sheet:
            lines.append(f"sheet = {_value(table.query.sheet)}")
        if table.query.header_row != 1:
            lines.append(f"header_row = {table.query.header_row}")
        if guess.watermark:
            lines.append(f"watermark = {_value(guess.watermark)}")
        lines += ["", "[entity.fields]"]
        order = [f.name for f in SPECS[guess.entity].fields]
        for name in sorted(guess.fields, key=order.index):
            rule = guess.fields[name]
            lines.append(f"{_key(name)} = {_value(rule.value)}" + _todo(rule.todo))
            todos += rule.todo is not None
    if unrecognised:
        lines += ["", f"# Not recognised as any entity: {', '.join(unrecognised)}."]
    return "\n".join(lines) + "\n", todos


def _todo(todo: str | None) -> str:
    return "" if todo is None else f"  # TODO: {todo}"


def _columns_used(guess: EntityGuess) -> set[str]:
    used: set[str] = set()
    for rule in guess.fields.values():
        value = rule.value
        if isinstance(value, str):
            used.add(value)
        elif isinstance(value, dict):
            if isinstance(value.get("column"), str):
                used.add(value["column"])
            for part in value.get("concat", []):
                if isinstance(part, str):
                    used.add(part)
    return used


def mapping_location(given: str, out: Path | None) -> str:
    """A file path as the mapping should write it: relative to the mapping file's folder
    when it is written to a file, as given otherwise."""
    if out is None:
        return given
    target = Path(given).resolve() if "*" not in given else Path(given).absolute()
    try:
        return str(target.relative_to(out.resolve().parent))
    except ValueError:
        import os

        return os.path.relpath(target, out.resolve().parent)


def guess_region(name: str, regions: dict[str, str]) -> str | None:
    """A Pemda code written in a database or file name (`keuangan_5318` → 53.18)."""
    for digits in reversed(re.findall(r"(?<!\d)(\d{2}(?:\.?\d{2})?)(?!\d)", name)):
        code = digits if "." in digits or len(digits) == 2 else f"{digits[:2]}.{digits[2:]}"
        if code in regions:
            return code
    return None


__all__ = ["ColumnProfile", "Scaffold", "SourceDraft", "guess_region", "scaffold"]
