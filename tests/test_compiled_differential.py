"""The compiled path never differs from the resolvers: a seeded generator of documents,
each sent over HTTP to two hubs on the same store, one with the compiled path and one
without, under every role and several variable sets; the answers must be the same.

"The same" is the status, the media type and the body: byte for byte once insignificant
whitespace is dropped (PostgreSQL's JSON has spaces after its colons), so key order, number
and string forms, errors, their messages, paths and codes all count. The store is the demo
estate synced, with a DOWN, a DEGRADED and a stale source, some resolved findings, and
stored values the schema refuses (a region level "Kota", an Int past 2^31). The
documents vary: variables in every filter field and in `first`/`after` (values, null,
absent), @skip/@include on root and inner fields and on fragment spreads (literals,
variables, nulls), named and inline fragments, root-level fragments, merged duplicate
fields, aliases, several operations with `operationName`, GET and POST on keep-alive
connections. Each document runs with several variable sets, so kept statements are reused.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from graphql import GraphQLObjectType, get_named_type

from adapters.mapping import load_config
from estate.generate import generate_estate
from hub.auth import keys
from hub.db import asyncpg_dsn
from hub.jobs import SyncJob
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.serving.compiled import CompiledQueries
from hub.store.codec import encode_cursor, global_id
from schema import schema
from schema.changes import entity_types
from schema.fields import ROW_TYPES, source_of
from tests.conftest import Server, running
from tests.test_security import SECRET_KEY, secure_settings

SEED = 20261206
DOCUMENTS = 240
VARIABLE_SETS = 2
ROLES = ("province", "regency", "opd", "public")


@dataclass
class Pair:
    """The same hub twice: with the compiled path (`fast`) and without (`plain`)."""

    fast: int  # ports
    plain: int
    keys: dict[str, str]
    codes: dict[str, Any]
    compiled: CompiledQueries


@pytest.fixture(scope="module")
async def pair(server: Server, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    data_dir: Path = tmp_path_factory.mktemp("differential")
    result = await generate_estate(
        data_dir,
        scale="small",
        seed=3,
        pg_url=server.admin_url,
        mariadb_url=None,
        fiscal_years=(2025, 2026),
        db_prefix=f"legacy_d{uuid.uuid4().hex[:6]}",
    )
    server.created.extend(result.postgres_databases)
    store = await server.create_database("rantai_differential")
    await run_async(store, "upgrade", "head")
    async with SyncJob(store, load_config(result.config)) as job:
        await job.sync()
    conn = await asyncpg.connect(asyncpg_dsn(store))
    try:
        sources = [r["id"] for r in await conn.fetch("SELECT id FROM source ORDER BY id")]
        await conn.execute("UPDATE source SET status = 'DOWN' WHERE id = $1", sources[0])
        await conn.execute("UPDATE source SET status = 'DEGRADED' WHERE id = $1", sources[1])
        await conn.execute(
            "UPDATE source SET last_success_at = now() - interval '2 days', "
            "freshness_seconds = 3600 WHERE id = $1",
            sources[2],
        )
        await conn.execute("UPDATE discrepancy SET resolved_at = now() WHERE id % 3 = 0")
        # Stored values the schema refuses (a legacy "Kota", an Int past 2^31): both paths
        # must answer them with the same error, never the compiled one serving them.
        await conn.execute("UPDATE region SET level = 'Kota' WHERE code = '53.71'")
        await conn.execute("UPDATE source SET rows = 3000000000 WHERE id LIKE 'bappeda%'")
        opd = await conn.fetchrow(
            """SELECT r.code AS region, o.code FROM opd o JOIN region r ON r.id = o.region_id
               JOIN sub_activity s ON s.opd_id = o.id WHERE r.level <> 'PROVINCE'
               GROUP BY r.code, o.code ORDER BY count(*) DESC LIMIT 1"""
        )
        rows = await conn.fetch("SELECT code, id FROM sub_activity ORDER BY code, id")
        opd_codes = [r["code"] for r in await conn.fetch("SELECT DISTINCT code FROM opd LIMIT 4")]
        made = {
            "province": (await keys.create(conn, SECRET_KEY, "province"))[0],
            "regency": (await keys.create(conn, SECRET_KEY, "regency", opd["region"]))[0],
            "opd": (await keys.create(conn, SECRET_KEY, "opd", opd["region"], opd["code"]))[0],
        }
        ids = []
        for name in sorted(entity_types()):
            pk = await conn.fetchval(f"SELECT min(id) FROM {ROW_TYPES[name].table}")
            if pk is not None:
                ids.append(global_id(name, pk))
        rups = [r[0] for r in await conn.fetch("SELECT rup_code FROM procurement_package LIMIT 3")]
        package = await conn.fetchval("SELECT id FROM procurement_package ORDER BY id OFFSET 7")
        tenders = [r[0] for r in await conn.fetch("SELECT code FROM tender LIMIT 3")]
        planned = await conn.fetchrow(
            "SELECT r.code AS region, s.fiscal_year, s.code FROM sub_activity s "
            "JOIN region r ON r.id = s.region_id ORDER BY s.id LIMIT 1"
        )
    finally:
        await conn.close()
    cursors = [encode_cursor("SubActivity", [r["code"], r["id"]]) for r in rows[:: len(rows) // 5]]
    codes = {
        "regions": ["53", opd["region"], "53.71", "99"],
        "opds": opd_codes,
        "cursors": cursors,
        "opd": (opd["region"], opd["code"]),
        "ids": [*ids, global_id("Vendor", -5), global_id("Nothing", 3), "bm90LWFuLWlk"],
        "rups": [*rups, "000"],
        "tenders": [*tenders, "000"],
        "sub_activity": (planned["region"], planned["fiscal_year"], planned["code"]),
        "opd_cursors": [
            encode_cursor("Opd", [opd["code"], 1]),
            encode_cursor("SubActivity", ["a", 1]),
        ],
        "discrepancy_cursors": [encode_cursor("Discrepancy", [5]), "bm90"],
        "package_cursors": [
            encode_cursor("ProcurementPackage", [package]),
            encode_cursor("Discrepancy", [5]),
        ],
    }
    base = {"rate_limit_per_minute": 10_000_000, "max_page_size": 500}
    fast_app = create_app(store, secure_settings(store, **base))
    plain_app = create_app(store, secure_settings(store, compiled_queries=False, **base))
    async with running(fast_app) as fast, running(plain_app) as plain:
        yield Pair(fast, plain, made, codes, fast_app.state.api.compiled)


# --------------------------------------------------------------------------- documents


class Document:
    """One generated document: its text, its variable definitions, and value choices."""

    def __init__(self, rng: random.Random, codes: dict[str, Any]) -> None:
        self.rng = rng
        self.codes = codes
        self.definitions: dict[str, str] = {}  # variable -> its type (and default)
        self.choices: dict[str, list[Any]] = {}  # variable -> values to draw from
        self.fragments: list[str] = []
        self._n = 0

    def var(self, kind: str, values: list[Any], default: str | None = None) -> str:
        self._n += 1
        name = f"v{self._n}"
        self.definitions[name] = kind + (f" = {default}" if default is not None else "")
        self.choices[name] = values
        return f"${name}"

    def value(self, kind: str, literals: list[Any], *, nullable: bool = True) -> str:
        """An argument: a literal, a variable (its value drawn later: a value, null or
        absent), or a null literal. For a non-null argument a variable with a default may
        still be sent as null: the ordinary path refuses it, so must the compiled one."""
        roll = self.rng.random()
        enum = kind == "ChainStage"
        if roll < 0.4:
            return _literal(self.rng.choice(literals), enum=enum)
        if roll < 0.92 or not nullable:
            values = [*literals, None]
            if self.rng.random() < 0.3 or not nullable:
                default = _literal(self.rng.choice(literals), enum=enum)
                return self.var(kind, [*values, _ABSENT], default)
            return self.var(kind, values)
        return "null"

    def _alias(self) -> str:
        self._n += 1
        return f"A{self._n}"

    def directive(self) -> str:
        roll = self.rng.random()
        if roll < 0.8:
            return ""
        name = self.rng.choice(["include", "skip"])
        if roll < 0.88:
            return f" @{name}(if: {self.rng.choice(['true', 'false'])})"
        return f" @{name}(if: {self.var('Boolean', [True, False, None, _ABSENT], 'true')})"

    def filter(self) -> str:
        if self.rng.random() < 0.1:  # the whole filter as one variable
            value = {"fiscalYear": self.rng.choice([2025, 2026])}
            return self.var("SubActivityFilter!", [value, {**value, "regionCode": "53"}])
        parts = [f"fiscalYear: {self.value('Int', [2025, 2026, 2024], nullable=False)}"]
        options = {
            "regionCode": ("String", self.codes["regions"]),
            "opdCode": ("String", self.codes["opds"]),
            "stage": ("ChainStage", ["PLANNED", "BUDGETED", "CONTRACTED", "IMPLEMENTING"]),
            "search": ("String", ["a", "Jalan", "100%_", "zz"]),
            "hasDiscrepancies": ("Boolean", [True, False]),
        }
        for name, (kind, literals) in options.items():
            if self.rng.random() < 0.35:
                parts.append(f"{name}: {self.value(kind, literals)}")
        return "{" + ", ".join(parts) + "}"

    def root(self, alias: str = "") -> str:
        """A root field: mostly the chain's list, else any other root the compiler takes."""
        roll = self.rng.random()
        if roll < 0.55:
            return self.sub_activities(alias)
        kind = self.rng.choice(
            ["opds", "discrepancies", "regions", "region", "opd", "subActivity",
             "procurementPackage", "procurementPackages", "tender", "node", "sources"]
        )  # fmt: skip
        return self.other_root(kind, alias)

    def paging(self, cursors: list[str]) -> list[str]:
        args = []
        if self.rng.random() < 0.7:
            args.append(f"first: {self.value('Int', [0, 1, 5, 30, 501, -1])}")
        if self.rng.random() < 0.4:
            args.append(f"after: {self.value('String', cursors)}")
        return args

    def connection(self, node_type: str, extra: str = "") -> str:
        parts = []
        if self.rng.random() < 0.6:
            parts.append("totalCount")
        if self.rng.random() < 0.5:
            info = self.rng.sample(
                ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"],
                k=self.rng.randint(1, 4),
            )
            parts.append("pageInfo { " + " ".join(info) + " }")
        node = self.selection(_type(node_type), depth=self.rng.randint(1, 3)) + extra
        cursor = "cursor " if self.rng.random() < 0.5 else ""
        parts.append(f"edges {{ {cursor}node {{ {node} }} }}")
        return " ".join(parts)

    def other_root(self, kind: str, alias: str) -> str:
        codes = self.codes
        if kind == "opds":
            args = self.paging([*codes["opd_cursors"], "bm90"])
            if self.rng.random() < 0.6:
                args.append(f"regionCode: {self.value('String', codes['regions'])}")
            body, head = self.connection("Opd"), "opds"
        elif kind == "discrepancies":
            args = self.paging(codes["discrepancy_cursors"])
            parts = []
            if self.rng.random() < 0.5:
                parts.append(f"open: {self.value('Boolean', [True, False])}")
            if self.rng.random() < 0.4:
                parts.append(f"regionCode: {self.value('String', codes['regions'])}")
            if self.rng.random() < 0.3:
                parts.append(f"fiscalYear: {self.value('Int', [2025, 2026])}")
            if self.rng.random() < 0.3:
                rules = ["SINGLE_BIDDER", "RUP_ABOVE_DPA", "NO_SUCH_RULE"]
                parts.append(f"rule: {self.value('String', rules)}")
            if self.rng.random() < 0.3:
                parts.append(f"severity: {self.rng.choice(['INFO', 'WARNING', 'CRITICAL'])}")
            if parts:
                args.append("filter: {" + ", ".join(parts) + "}")
            body, head = self.connection("Discrepancy"), "discrepancies"
        elif kind == "procurementPackages":
            args = self.paging(codes["package_cursors"])
            parts = [f"fiscalYear: {self.value('Int', [2025, 2026, 2024], nullable=False)}"]
            if self.rng.random() < 0.5:
                parts.append(f"regionCode: {self.value('String', codes['regions'])}")
            if self.rng.random() < 0.3:
                parts.append(f"opdCode: {self.value('String', codes['opds'])}")
            args.append("filter: {" + ", ".join(parts) + "}")
            body, head = self.connection("ProcurementPackage"), "procurementPackages"
        elif kind == "regions":
            args = [f"level: {self.rng.choice(['PROVINCE', 'REGENCY', 'CITY'])}"]
            args = args if self.rng.random() < 0.4 else []
            body, head = self.selection(_type("Region"), depth=2), "regions"
        elif kind == "sources":
            args, body, head = [], self.selection(_type("Source"), depth=1), "sources"
        elif kind == "node":
            args = [f"id: {self.value('ID', codes['ids'], nullable=False)}"]
            fragments = []
            for name in self.rng.sample(sorted(entity_types()), k=3):
                fragments.append(f"... on {name} {{ {self.selection(_type(name), depth=2)} }}")
            body, head = "id __typename " + " ".join(fragments), "node"
        else:
            single = {
                "region": ("Region", {"code": codes["regions"]}),
                "opd": ("Opd", {"regionCode": [codes["opd"][0]], "code": [codes["opd"][1], "x"]}),
                "subActivity": (
                    "SubActivity",
                    {"regionCode": [codes["sub_activity"][0]],
                     "fiscalYear": [codes["sub_activity"][1], 1999],
                     "code": [codes["sub_activity"][2], "9.99"]},
                ),
                "procurementPackage": ("ProcurementPackage", {"rupCode": codes["rups"]}),
                "tender": ("Tender", {"code": codes["tenders"]}),
            }  # fmt: skip
            type_name, wanted = single[kind]
            args = []
            for name, choices in wanted.items():
                scalar = "Int" if name == "fiscalYear" else "String"
                args.append(f"{name}: {self.value(scalar, choices, nullable=False)}")
            body, head = self.selection(_type(type_name), depth=3), kind
        arguments = f"({', '.join(args)})" if args else ""
        return f"{alias}{head}{arguments}{self.directive()} {{ {body} }}"

    def sub_activities(self, alias: str = "") -> str:
        args = [f"filter: {self.filter()}"]
        if self.rng.random() < 0.7:
            args.append(f"first: {self.value('Int', [0, 1, 5, 30, 501, -1])}")
        if self.rng.random() < 0.4:
            after = [*self.codes["cursors"], "bm90LWEtY3Vyc29y", encode_cursor("Opd", ["1", 1])]
            args.append(f"after: {self.value('String', after)}")
        parts = []
        if self.rng.random() < 0.6:
            parts.append("totalCount")
        if self.rng.random() < 0.5:
            parts.append(
                "pageInfo { "
                + " ".join(
                    self.rng.sample(
                        ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"],
                        k=self.rng.randint(1, 4),
                    )
                )
                + " }"
            )
        node = self.selection(_type("SubActivity"), depth=self.rng.randint(1, 4))
        if self.rng.random() < 0.2:  # the sources' health: one holds an Int past 2^31
            node += " provenance { stale source { id status rows } }"
        parts.append(f"edges {{ {'cursor ' if self.rng.random() < 0.5 else ''}node {{ {node} }} }}")
        if self.rng.random() < 0.1:
            parts.append("__typename")
        head = f"{alias}subActivities({', '.join(args)}){self.directive()}"
        return f"{head} {{ {' '.join(parts)} }}"

    def selection(self, kind: GraphQLObjectType, depth: int) -> str:
        names = [n for n, f in kind.fields.items() if source_of(f) is not None and not f.args]
        if kind.name == "Payment":
            names.append("payee")  # compiled by hand
        parts = []
        for name in self.rng.sample(names, k=min(len(names), self.rng.randint(1, 4))):
            inner = get_named_type(kind.fields[name].type)
            alias = f"{name}{self._alias()}: " if self.rng.random() < 0.12 else ""
            if isinstance(inner, GraphQLObjectType):
                if depth <= 0:
                    continue
                below = self.selection(inner, depth - 1)
                parts.append(f"{alias}{name}{self.directive()} {{ {below} }}")
                if self.rng.random() < 0.1:  # asked twice: merged
                    parts.append(f"{name} {{ {self.selection(inner, 0)} }}")
            else:
                parts.append(f"{alias}{name}{self.directive()}")
        if kind.name in ("Region", "Opd") and depth > 0 and self.rng.random() < 0.35:
            parts.append(self.with_arguments(kind.name, depth))
        roll = self.rng.random()
        if roll < 0.15 and parts:
            fragment = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {fragment} on {kind.name} {{ {' '.join(parts)} }}")
            parts = [f"...{fragment}{self.directive()}"]
        elif roll < 0.25 and parts:
            parts = [f"... on {kind.name}{self.directive()} {{ {' '.join(parts)} }}"]
        if self.rng.random() < 0.05:
            parts.append("__typename")
        return " ".join(parts) or "__typename"

    def with_arguments(self, kind: str, depth: int) -> str:
        """Fields with arguments below the root: a summary, follow-up counts, a nested page."""
        roll = self.rng.random()
        if roll < 0.15:
            year = self.value("Int", [2025, 2026], nullable=False)
            fields = self.rng.sample(
                ["assigned", "awaiting", "answered", "accepted", "overdue",
                 "medianDaysToAnswer"],
                k=self.rng.randint(1, 3),
            )  # fmt: skip
            return f"followUps(fiscalYear: {year}) {{ {' '.join(fields)} }}"
        if roll < 0.5:
            year = self.value("Int", [2025, 2026], nullable=False)
            fields = self.rng.sample(
                ["subActivities", "plannedAmount", "allocated", "procurementCeiling",
                 "contracted", "paid", "physicalPercent", "openDiscrepancies"],
                k=self.rng.randint(1, 4),
            )  # fmt: skip
            return f"summary(fiscalYear: {year}) {{ {' '.join(fields)} }}"
        first = self.rng.choice(["1", "3", "0", "600", "$page"])
        if first == "$page":  # a variable page size: declined, answered alike
            first = self.var("Int", [2, None])
        after = f', after: "{self.rng.choice(self.codes["opd_cursors"])}"'
        after = after if self.rng.random() < 0.2 else ""
        if kind == "Region":
            inner = self.connection("Opd") if depth > 1 else "totalCount"
            return f"opds(first: {first}{after}) {{ {inner} }}"
        year = self.value("Int", [2025, 2026], nullable=False)
        inner = self.connection("SubActivity") if depth > 1 else "totalCount"
        return f"subActivities(fiscalYear: {year}, first: {first}{after}) {{ {inner} }}"

    def text(self, body: str, name: str = "", *, variables: bool = True) -> str:
        defs = ", ".join(f"${k}: {v}" for k, v in self.definitions.items()) if variables else ""
        head = f"query {name}" + (f"({defs})" if defs else "")
        return f"{head} {{ {body} }}"


_ABSENT = object()


def _literal(value: Any, *, enum: bool = False) -> str:
    if value is None:
        return "null"
    if enum:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _type(name: str) -> GraphQLObjectType:
    kind = schema._schema.get_type(name)
    assert isinstance(kind, GraphQLObjectType)
    return kind


def generate(rng: random.Random, codes: dict[str, Any]) -> tuple[str, str | None, Document]:
    """(document text, operation name or None, the document's variable choices)."""
    doc = Document(rng, codes)
    roots = [doc.root()]
    if rng.random() < 0.15:
        roots.append(doc.root(alias="second: "))
    if rng.random() < 0.25:
        roots.append(doc.root(alias="third: "))
    if rng.random() < 0.15:
        roots.insert(0, "__typename")
    if rng.random() < 0.1:
        doc.fragments.append(f"fragment Root on Query {{ {doc.root(alias='viaFragment: ')} }}")
        roots.append("...Root")
    body = " ".join(roots)
    if rng.random() < 0.12:  # several operations; operationName chooses
        other = doc.text("regions { code }", "Other", variables=False)
        chosen = doc.text(body, "Chosen")
        text = " ".join([other, chosen, *doc.fragments])
        return text, rng.choice(["Chosen", "Other"]), doc
    return " ".join([doc.text(body), *doc.fragments]), None, doc


def variable_sets(rng: random.Random, doc: Document, count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        values: dict[str, Any] = {}
        for name, choices in doc.choices.items():
            value = rng.choice(choices)
            if value is not _ABSENT:
                values[name] = value
        out.append(values)
    return out


# --------------------------------------------------------------------------- the run


def canonical(body: bytes) -> bytes:
    """The body without insignificant whitespace, keys in the order they came."""
    return orjson.dumps(orjson.loads(body))


def same_outcome(a: bytes, b: bytes) -> bool:
    one, other = orjson.loads(a), orjson.loads(b)

    def codes(body: dict[str, Any], *, kept: bool = False) -> set[str]:
        """The error codes; `kept`: of the errors on fields that still hold a value."""
        data = body.get("data")
        return {
            e.get("extensions", {}).get("code")
            for e in body.get("errors") or ()
            if not kept or not _nulled(data, e.get("path") or ())
        }

    same_data = orjson.dumps(one.get("data")) == orjson.dumps(other.get("data"))
    if not same_data or ("data" in one) != ("data" in other):
        return False
    if one.get("data") is None and "data" in one:
        # A null that reached `data` stops execution: which other field errors were
        # collected by then depends on timing. At least one each, then.
        return bool(one.get("errors")) and bool(other.get("errors"))
    if codes(one) == codes(other):
        return True
    # Errors under a field that came back null: the first to fail nulled it, and which
    # one that is depends on timing too. The others must agree.
    return codes(one, kept=True) == codes(other, kept=True) and all(
        any(_nulled(body["data"], e.get("path") or ()) for e in body.get("errors") or ())
        for body in (one, other)
    )


def _nulled(data: Any, path: Sequence[str | int]) -> bool:
    """Whether `path` runs into a null in `data` (the error nulled a field on its way)."""
    for step in path:
        if data is None:
            return True
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return True
    return data is None


async def ask(
    client: httpx.AsyncClient, text: str, operation: str | None, variables: dict[str, Any],
    key: str | None, get: bool,
) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if get:
        params = {"query": text, "variables": json.dumps(variables)}
        if operation:
            params["operationName"] = operation
        return await client.get("/graphql", params=params, headers=headers)
    body: dict[str, Any] = {"query": text, "variables": variables}
    if operation:
        body["operationName"] = operation
    return await client.post("/graphql", json=body, headers=headers)


async def test_the_compiled_path_never_differs(pair: Pair) -> None:
    rng = random.Random(SEED)
    compared = 0
    outcomes: dict[str, int] = {}
    before = pair.compiled.answered
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{pair.fast}", timeout=60) as fast,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{pair.plain}", timeout=60) as plain,
    ):
        for number in range(DOCUMENTS):
            text, operation, doc = generate(rng, pair.codes)
            for variables in variable_sets(rng, doc, VARIABLE_SETS):
                for role in ROLES:
                    key = pair.keys.get(role)
                    get = rng.random() < 0.15 and len(text) < 3000
                    answered = pair.compiled.answered
                    a = await ask(fast, text, operation, variables, key, get)
                    b = await ask(plain, text, operation, variables, key, get)
                    method = "GET" if get else "POST"
                    where = f"document {number} as {role} ({method}):\n{text}\n{variables}"
                    assert a.status_code == b.status_code, where
                    assert a.headers["content-type"] == b.headers["content-type"], where
                    if pair.compiled.answered > answered:  # the compiled path answered
                        assert canonical(a.content) == canonical(b.content), (
                            f"{where}\ncompiled: {a.text[:1500]}\nresolvers: {b.text[:1500]}"
                        )
                    else:
                        # Both answered by the resolvers. When several fields fail, which
                        # errors graphql-core collects before nulling `data` depends on
                        # the order its awaits finish: the data and the codes must agree.
                        assert same_outcome(a.content, b.content), (
                            f"{where}\ndeclined: {a.text[:1500]}\nresolvers: {b.text[:1500]}"
                        )
                    compared += 1
                    body = orjson.loads(b.content)
                    outcome = "data" if body.get("data") is not None else "refused"
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    answered = pair.compiled.answered - before
    assert compared == DOCUMENTS * VARIABLE_SETS * len(ROLES)
    # A real share went the compiled way (the rest: masked fields, refused arguments…).
    assert answered >= compared // 4, (answered, compared, outcomes, pair.compiled.declined)
    assert outcomes.get("data", 0) >= compared // 2, outcomes  # mostly documents that run
