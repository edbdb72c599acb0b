"""Mapping files: a legacy source described in TOML, validated with file and line, and
applied to the source's rows to make canonical records, each field by its rule
(`field_rules.py`; docs/mappings.md)."""

from __future__ import annotations

import glob
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from adapters.base import EntityQuery, SourceConfig
from adapters.field_rules import CODE_NORMALISERS, ConcatPart, Cut, FieldRule, RecordError
from adapters.http_mapping import HTTP_ENTITY_KEYS, HTTP_SOURCE_KEYS, http_options, http_query
from adapters.locator import Locator
from adapters.records import ENTITIES, EntitySpec
from adapters.schedule import reconcile_schedule

SOURCE_KINDS = ("postgresql", "mariadb", "mysql", "sqlite", "xlsx", "csv", "http-json")
SQL_KINDS = ("postgresql", "mariadb", "mysql", "sqlite")
SOURCE_KEYS = {
    "id",
    "name",
    "kind",
    "url",
    "path",
    "region",
    "owner_opd",
    "batch_size",
    "timeout_seconds",
    "overlap_seconds",
    "reconcile_every",
    "reconcile_at",
    "uploads",
    *HTTP_SOURCE_KEYS,
}
_ENTITY_KEYS = {"name", "table", "query", "sheet", "header_row", "watermark", "key", "fields"}
ENTITY_KEYS = _ENTITY_KEYS | HTTP_ENTITY_KEYS
FIELD_OPTIONS = {
    "column",
    "cell",
    "const",
    "concat",
    "sep",
    "number",
    "date",
    "widths",
    "default",
    "map",
    "strict",
    "strip",
    "segments",
    "pattern",
}
CONCAT_PART_OPTIONS = {"column", "segments", "pattern"}
SOURCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping, where it is and why. A warning does not stop the
    mapping from being used (`rantai sources check` still exits 0 for it)."""

    file: Path
    line: int | None
    reason: str
    warning: bool = False

    def __str__(self) -> str:
        prefix = "warning: " if self.warning else ""
        return f"{self.file}:{self.line or 1}: {prefix}{self.reason}"


class MappingError(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


# --- entities and sources -------------------------------------------------------------------


@dataclass(frozen=True)
class EntityMapping:
    spec: EntitySpec
    query: EntityQuery
    fields: dict[str, FieldRule]
    key_columns: tuple[str, ...]
    line: int | None
    lines: dict[str, int | None] = field(default_factory=dict)  # table, watermark, … → line

    def record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical record of one source row; RecordError names the field."""
        record = {name: read(row) for name, read in self.readers}
        for name in self.spec.required:
            if record.get(name) in (None, ""):
                missing = [n for n in self.spec.required if record.get(n) in (None, "")]
                raise RecordError(f"no value for {', '.join(missing)}")
        return record

    @cached_property
    def readers(self) -> tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]:
        return tuple((name, rule.read) for name, rule in self.fields.items())

    def source_key(self, row: Mapping[str, Any]) -> str:
        return "/".join(
            "" if row.get(c) is None else str(row.get(c)).strip() for c in self.key_columns
        )


@dataclass(frozen=True)
class SourceMapping:
    file: Path
    config: SourceConfig
    name: str
    region: str | None
    owner_opd: str | None
    entities: tuple[EntityMapping, ...]
    locator: Locator
    uploads: bool = False  # an xlsx source fed by its OPD's uploads (POST /upload/monev)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def kind(self) -> str:
        return self.config.kind


def read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and data; a syntax error is a MappingError with its line."""
    text = path.read_text(encoding="utf-8")
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise MappingError(
            [Problem(path, int(match.group(1)) if match else None, f"not valid TOML: {exc}")]
        ) from None


def load_mapping(path: Path) -> SourceMapping:
    """Read and validate one mapping file; MappingError lists every problem with its line."""
    text, data = read_toml(path)
    return _Builder(path, text, data).build()


class _Builder:
    def __init__(self, path: Path, text: str, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.at = Locator(text)
        self.problems: list[Problem] = []

    def problem(self, line: int | None, reason: str) -> None:
        self.problems.append(Problem(self.path, line, reason))

    def build(self) -> SourceMapping:
        for key in self.data:
            if key not in ("source", "entity"):
                self.problem(self.at.line(key), f"unknown top-level key {key!r}")
        source = self.data.get("source")
        if not isinstance(source, dict):
            self.problem(1, "missing [source] table")
            raise MappingError(self.problems)
        config = self.source_config(source)
        entities = self.data.get("entity", [])
        if not isinstance(entities, list) or not entities:
            self.problem(self.at.line("source"), "no [[entity]] tables: nothing to read")
            entities = []
        built = [self.entity(i, e, config) for i, e in enumerate(entities)]
        uploads = self.uploads(source, config)
        if self.problems:
            raise MappingError(self.problems)
        return SourceMapping(
            file=self.path,
            config=config,
            name=str(source.get("name") or config.id),
            region=_opt_str(source.get("region")),
            owner_opd=_opt_str(source.get("owner_opd")),
            entities=tuple(_by_file(e) if uploads else e for e in built if e is not None),
            locator=self.at,
            uploads=uploads,
        )

    def uploads(self, source: dict[str, Any], config: SourceConfig) -> bool:
        """`uploads = true`: an xlsx source of one OPD, read from what its operators send."""
        value = source.get("uploads", False)
        line = self.at.line("source", "uploads")
        if not isinstance(value, bool):
            self.problem(line, "uploads must be true or false")
        elif value and (config.kind != "xlsx" or not source.get("owner_opd")):
            self.problem(line, 'uploads = true needs kind = "xlsx" and the owner_opd sending')
        elif value and config.path:
            self.problem(line, "an uploads source reads what is sent: give no path")
        return value is True

    def source_config(self, source: dict[str, Any]) -> SourceConfig:
        for key in source:
            if key not in SOURCE_KEYS:
                self.problem(self.at.line("source", key), f"unknown key {key!r} in [source]")
        source_id = source.get("id")
        if not isinstance(source_id, str) or not SOURCE_ID.match(source_id):
            self.problem(
                self.at.line("source", "id") or self.at.line("source"),
                "[source] needs an id of letters, digits, '-', '_' or '.'",
            )
            source_id = "?"
        kind = source.get("kind")
        if kind not in SOURCE_KINDS:
            self.problem(
                self.at.line("source", "kind") or self.at.line("source"),
                f"kind must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}",
            )
            kind = "?"
        url = source.get("url")
        path = source.get("path")
        if kind in (*SQL_KINDS, "http-json") and not isinstance(url, str):
            self.problem(self.at.line("source"), f"a {kind} source needs a url")
        if kind in ("xlsx", "csv") and not isinstance(path, str) and not source.get("uploads"):
            self.problem(self.at.line("source"), f"a {kind} source needs a path (file or glob)")
        if isinstance(url, str):
            url = self.expand(url, self.at.line("source", "url"))
        for key, low in (("batch_size", 1), ("timeout_seconds", 1)):
            value = source.get(key)
            if value is not None and (not isinstance(value, int | float) or value < low):
                self.problem(self.at.line("source", key), f"{key} must be a number ≥ {low}")
        overlap = source.get("overlap_seconds", 600)
        if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
            reason = "overlap_seconds must be a whole number ≥ 0"
            self.problem(self.at.line("source", "overlap_seconds"), reason)
            overlap = 600
        every, at, wrong = reconcile_schedule(source)
        for key, reason in wrong:
            self.problem(self.at.line("source", key), reason)
        http = http_options(str(kind), source, self.problem, self.at.line, self.expand)
        return SourceConfig(
            id=str(source_id),
            kind=str(kind),
            url=url if isinstance(url, str) else None,
            path=path if isinstance(path, str) else None,
            base_dir=self.path.parent,
            batch_size=int(source.get("batch_size") or 5000),
            timeout_seconds=float(source.get("timeout_seconds") or 60),
            overlap_seconds=overlap,
            reconcile_every=every,
            reconcile_at=at,
            http=http,
        )

    def expand(self, text: str, line: int | None) -> str:
        def env(match: re.Match[str]) -> str:
            value = os.environ.get(match.group(1))
            if value is None:
                self.problem(line, f"environment variable {match.group(1)} is not set")
                return ""
            return value

        return ENV_VAR.sub(env, text)

    def entity(self, index: int, data: Any, config: SourceConfig) -> EntityMapping | None:
        where = ("entity", index)
        line = self.at.line(*where)
        if not isinstance(data, dict):
            self.problem(line, "[[entity]] must be a table")
            return None
        for key in data:
            if key not in ENTITY_KEYS:
                self.problem(self.at.line(*where, key), f"unknown key {key!r} in [[entity]]")
        name = data.get("name")
        spec = ENTITIES.get(name) if isinstance(name, str) else None
        if spec is None:
            known = ", ".join(sorted(ENTITIES))
            self.problem(
                self.at.line(*where, "name") or line, f"unknown entity {name!r}; one of: {known}"
            )
            return None
        sources = [k for k in ("table", "query", "sheet") if k in data]
        spreadsheet = config.kind in ("xlsx", "csv")
        http = http_query(
            config.kind, data, where, spec.name, self.problem, self.at.line, self.expand
        )
        if spreadsheet and ("table" in data or "query" in data):
            self.problem(line, f"{spec.name}: a spreadsheet entity reads a sheet, not a table")
        if (
            not spreadsheet
            and config.kind not in ("?", "http-json")
            and len([s for s in sources if s != "sheet"]) != 1
        ):
            self.problem(line, f"{spec.name}: give exactly one of table or query")
        header_row = data.get("header_row", 1)
        if not isinstance(header_row, int) or header_row < 1:
            self.problem(self.at.line(*where, "header_row"), "header_row must be a row number ≥ 1")
            header_row = 1
        watermark = data.get("watermark") or None
        if watermark is not None and not isinstance(watermark, str):
            self.problem(self.at.line(*where, "watermark"), "watermark must be a column name")
            watermark = None
        fields_data = data.get("fields")
        if not isinstance(fields_data, dict):
            self.problem(line, f"{spec.name}: missing [entity.fields]")
            return None
        rules: dict[str, FieldRule] = {}
        for field_name, value in fields_data.items():
            rule = self.field_rule(spec, field_name, value, (*where, "fields", field_name))
            if rule is not None:
                rules[field_name] = rule
        region = self.data["source"].get("region")
        region_field = spec.field("region_code")
        if region_field is not None and "region_code" not in rules and isinstance(region, str):
            # A source's rows belong to its Pemda unless the mapping says otherwise.
            rules["region_code"] = FieldRule(
                region_field, self.at.line("source", "region"), const=region, has_const=True
            )
        for required in spec.required:
            if required not in rules:
                self.problem(
                    self.at.line(*where, "fields") or line,
                    f"{spec.name}: field {required!r} is required (a key or required field)",
                )
        key = data.get("key")
        if key is not None and (
            not isinstance(key, list) or not all(isinstance(k, str) for k in key)
        ):
            self.problem(self.at.line(*where, "key"), "key must be a list of column names")
            key = None
        key_columns = (
            tuple(key)
            if key
            else tuple(c for k in spec.key if k in rules for c in rules[k].source_columns())
        )
        cells = tuple(sorted({r.cell for r in rules.values() if r.cell}))
        columns = sorted(
            {c for r in rules.values() for c in r.source_columns()}
            | set(key_columns)
            | ({watermark} if watermark else set())
        )
        query = EntityQuery(
            table=_opt_str(data.get("table")),
            query=_opt_str(data.get("query")),
            sheet=_opt_str(data.get("sheet")),
            header_row=header_row,
            columns=tuple(columns),
            watermark=watermark,
            cells=cells,
            http=http,
        )
        lines = {
            k: self.at.line(*where, k)
            for k in ("table", "query", "sheet", "path", "watermark", "key")
        }
        lines.update({f"fields.{k}": self.at.line(*where, "fields", k) for k in fields_data})
        return EntityMapping(spec, query, rules, key_columns, line, lines)

    def field_rule(
        self, spec: EntitySpec, name: str, value: Any, where: tuple[Any, ...]
    ) -> FieldRule | None:
        line = self.at.line(*where)
        field_spec = spec.field(name)
        if field_spec is None:
            known = ", ".join(f.name for f in spec.fields)
            self.problem(line, f"{spec.name} has no field {name!r}; its fields: {known}")
            return None
        if isinstance(value, str):
            return FieldRule(field_spec, line, column=value)
        if not isinstance(value, dict):
            self.problem(line, f'{name}: give a column name or a table such as {{ column = "…" }}')
            return None
        unknown = set(value) - FIELD_OPTIONS
        if unknown:
            self.problem(line, f"{name}: unknown option(s) {', '.join(sorted(unknown))}")
        forms = [k for k in ("column", "cell", "const", "concat") if k in value]
        if len(forms) != 1:
            self.problem(line, f"{name}: give exactly one of column, cell, const or concat")
            return None
        number = value.get("number", "id")
        if number not in ("id", "en"):
            self.problem(line, f'{name}: number must be "id" or "en"')
        date = value.get("date")
        if date is not None and (not isinstance(date, str) or (date != "auto" and "%" not in date)):
            self.problem(line, f'{name}: date must be "auto" or a strptime pattern like "%d-%m-%Y"')
        widths = value.get("widths")
        if widths is not None:
            if field_spec.kind not in CODE_NORMALISERS:
                self.problem(line, f"{name}: widths apply to code fields only")
            elif (
                not isinstance(widths, list)
                or not widths
                or not all(isinstance(w, int) and 1 <= w <= 8 for w in widths)
            ):
                self.problem(line, f"{name}: widths must be a list of segment widths (1–8)")
                widths = None
        mapping = value.get("map")
        if mapping is not None and not isinstance(mapping, dict):
            self.problem(line, f"{name}: map must be a table of source value = canonical value")
            mapping = None
        vocabulary = field_spec.vocabulary
        if mapping is not None and vocabulary:
            allowed = {v.lower() for v in vocabulary}
            for source_value, target in mapping.items():
                if target is not None and str(target).lower() not in allowed:
                    self.problem(
                        line,
                        f"{name}: map sends {source_value!r} to {target!r}, which is not one "
                        f"of {', '.join(vocabulary)}",
                    )
        strict = value.get("strict", False)
        if not isinstance(strict, bool):
            self.problem(line, f"{name}: strict must be true or false")
            strict = False
        elif strict and mapping is None:
            self.problem(line, f"{name}: strict applies to map: give map = {{ … }}")
        strip = value.get("strip", True)
        if not isinstance(strip, bool):
            self.problem(line, f"{name}: strip must be true or false")
            strip = True
        if ("const" in value) and ("segments" in value or "pattern" in value):
            self.problem(line, f"{name}: segments and pattern cut a column, cell or concat")
        cut = self.cut(name, value, line)
        concat: list[ConcatPart] = []
        if "concat" in value:
            parts = value["concat"]
            if not isinstance(parts, list) or not parts:
                self.problem(line, f"{name}: concat must be a list of columns and {{ const = … }}")
            else:
                for part in parts:
                    made = self.concat_part(name, part, line)
                    if made is not None:
                        concat.append(made)
        cell = value.get("cell")
        if cell is not None and (
            not isinstance(cell, str) or not re.match(r"^[A-Z]{1,3}[0-9]{1,6}$", cell)
        ):
            self.problem(line, f'{name}: cell must look like "B3"')
            cell = None
        column = value.get("column")
        if column is not None and not isinstance(column, str):
            self.problem(line, f"{name}: column must be a column name")
            column = None
        return FieldRule(
            field_spec,
            line,
            column=column,
            cell=cell,
            const=value.get("const"),
            has_const="const" in value,
            concat=tuple(concat),
            sep=str(value.get("sep", "")),
            number=str(number),
            date=date if isinstance(date, str) else None,
            widths=tuple(widths) if isinstance(widths, list) else None,
            default=value.get("default"),
            mapping=mapping,
            strict=strict,
            strip=strip,
            cut=cut,
        )

    def concat_part(self, name: str, part: Any, line: int | None) -> ConcatPart | None:
        if isinstance(part, str):
            return ConcatPart(column=part)
        if isinstance(part, dict) and set(part) == {"const"}:
            return ConcatPart(literal=str(part["const"]))
        if isinstance(part, dict) and isinstance(part.get("column"), str):
            unknown = set(part) - CONCAT_PART_OPTIONS
            if unknown:
                self.problem(
                    line,
                    f"{name}: concat part {part!r}: unknown option(s) "
                    f"{', '.join(sorted(unknown))} (a part takes column, segments, pattern)",
                )
                return None
            return ConcatPart(column=part["column"], cut=self.cut(name, part, line))
        self.problem(
            line,
            f"{name}: concat part {part!r} is neither a column, {{ column = … }} "
            "nor {{ const = … }}",
        )
        return None

    def cut(self, name: str, value: dict[str, Any], line: int | None) -> Cut:
        """`pattern` and `segments` of a field or a concat part."""
        pattern = None
        if "pattern" in value:
            text = value["pattern"]
            try:
                pattern = re.compile(text) if isinstance(text, str) and text else None
            except re.error as exc:
                self.problem(line, f"{name}: pattern {text!r} is not a regular expression: {exc}")
            else:
                if pattern is None:
                    self.problem(line, f"{name}: pattern must be a regular expression (text)")
                elif pattern.groups > 1:
                    self.problem(
                        line,
                        f"{name}: pattern {text!r} has {pattern.groups} groups; give one "
                        "group around the part to keep (or none for the whole match), and "
                        "(?:…) for the others",
                    )
                    pattern = None
        segments: tuple[int, int | None] | None = None
        if "segments" in value:
            raw = value["segments"]
            if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
                segments = (0, raw)
            elif (
                isinstance(raw, list)
                and len(raw) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in raw)
                and 1 <= raw[0] <= raw[1]
            ):
                segments = (raw[0] - 1, raw[1])
            else:
                self.problem(
                    line,
                    f"{name}: segments must be a count (segments = 5: the first five) or a "
                    f"range [first, last] counted from 1 (segments = [2, 3]), not {raw!r}",
                )
        return Cut(pattern, segments)


def _by_file(entity: EntityMapping) -> EntityMapping:
    """An uploads source's rows keep the upload they came from in their source key."""
    return replace(entity, key_columns=("@file", *entity.key_columns))


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- rantai.toml ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    file: Path
    sources: tuple[SourceMapping, ...]
    disabled: tuple[Path, ...] = ()


def load_config(path: Path) -> Config:
    """rantai.toml and every mapping it lists; MappingError gathers all problems."""
    text, data = read_toml(path)
    at = Locator(text)
    problems: list[Problem] = []
    sources: list[SourceMapping] = []
    disabled: list[Path] = []
    entries = data.get("source", [])
    if not isinstance(entries, list):
        raise MappingError(
            [Problem(path, at.line("source"), "[[source]] must be an array of tables")]
        )
    for index, entry in enumerate(entries):
        line = at.line("source", index, "mapping") or at.line("source", index)
        pattern = entry.get("mapping") if isinstance(entry, dict) else None
        if not isinstance(pattern, str):
            problems.append(Problem(path, line, '[[source]] needs mapping = "path/to/file.toml"'))
            continue
        files = sorted(glob.glob(str(path.parent / pattern))) or []
        if not files:
            problems.append(Problem(path, line, f"no mapping file matches {pattern!r}"))
            continue
        for file in files:
            if entry.get("enabled", True) is False:
                disabled.append(Path(file))
                continue
            try:
                sources.append(load_mapping(Path(file)))
            except MappingError as exc:
                problems.extend(exc.problems)
    ids: dict[str, Path] = {}
    for source in sources:
        if source.id in ids:
            problems.append(
                Problem(
                    source.file,
                    source.locator.line("source", "id"),
                    f"source id {source.id!r} is already used by {ids[source.id]}",
                )
            )
        ids[source.id] = source.file
    if problems:
        raise MappingError(problems)
    return Config(path, tuple(sources), tuple(disabled))
