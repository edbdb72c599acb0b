"""The compiled path (hub/serving/compiled.py) answers exactly what the ordinary path answers.

Every document here runs both ways on the same store for every kind of viewer: the
ordinary path (graphql-core + Strawberry resolvers + DataLoaders) and the compiled one
(one SQL statement building the JSON). The data must be equal, value for value and in the
same order. Documents the compiler must not take (timestamps, masked fields, aggregates)
must fall back to the ordinary path, and bad arguments still get the ordinary path's
errors. Besides the hand-written documents, 60 documents are drawn at random from the
compilable part of the schema.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from graphql import GraphQLObjectType, get_named_type, get_operation_ast, parse

from bench.jsondiff import first_difference
from estate.synthetic import seed_canonical
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.serving.compiled import CompiledQueries
from hub.serving.examples import DEEP_CHAIN
from hub.serving.request import run
from hub.settings import Settings
from hub.store.scope import EVERYTHING, PUBLIC, OpdScope, RegionScope, Scope
from resolvers.context import Context
from schema import schema as default_schema
from schema.fields import source_of
from tests.conftest import Server, asyncpg_dsn

FY = 2025


@dataclass
class Both:
    app: Any
    compiled: CompiledQueries
    settings: Settings
    scopes: dict[str, Scope]
    codes: dict[str, str]

    async def ordinary(self, document: str, variables: dict[str, Any], scope: Scope) -> Any:
        doc = parse(document)
        context = Context.create(self.app.state.engine, self.settings, scope=scope)
        return await run(
            default_schema, doc, context, variables, None, time_limit=60, hide_suggestions=False
        )

    async def fast(self, document: str, variables: dict[str, Any], scope: Scope) -> Any:
        doc = parse(document)
        operation = get_operation_ast(doc, None)
        assert operation is not None
        return await self.compiled.answer(doc, operation, variables, scope, time_limit=60)

    async def same(
        self, document: str, variables: dict[str, Any], scope: Scope, *, compiled: bool = True
    ) -> Any:
        """Both answers, checked equal; `compiled=False`: the compiler must decline."""
        ordinary = await self.ordinary(document, variables, scope)
        fast = await self.fast(document, variables, scope)
        if not compiled:
            assert fast is None, "the compiler should have declined this document"
            return ordinary.data
        assert fast is not None, "the compiler declined a document it should compile"
        assert ordinary.errors is None, ordinary.errors
        expected = orjson.loads(orjson.dumps(ordinary.data))
        got = orjson.loads(orjson.dumps(fast.data))
        assert got == expected, first_difference(got, expected, names=("compiled", "ordinary"))
        return got


@pytest.fixture(scope="module")
async def both(server: Server) -> AsyncIterator[Both]:
    """A store of its own (it is changed below): the synthetic province, one source DOWN,
    one with an old last success and its own freshness limit, and some ketimpangan."""
    url = await server.create_database("rantai_compiled")
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed_canonical(conn, sub_activities=240, seed=11)
        await conn.execute("UPDATE source SET status = 'DOWN' WHERE id = 'bpkad-keuangan'")
        await conn.execute(
            "UPDATE source SET last_success_at = $1, freshness_seconds = 60"
            " WHERE id = 'bappeda-eplanning'",
            datetime.now(UTC) - timedelta(hours=1),
        )
        await conn.execute(
            """
            INSERT INTO discrepancy (rule, subject_key, severity, message, fiscal_year,
                                     region_id, opd_id, sub_activity_id, evidence, detected_at)
            SELECT 'RULE_' || (id % 3), 'sa:' || id, 'WARNING', 'Pesan ' || id, fiscal_year,
                   region_id, opd_id, id, '[]', now()
            FROM sub_activity WHERE id % 7 = 0
            """
        )
        region = await conn.fetchrow(
            "SELECT code FROM region WHERE level <> 'PROVINCE' ORDER BY code LIMIT 1"
        )
        opd = await conn.fetchrow(
            "SELECT r.code AS region_code, o.code FROM opd o JOIN region r ON r.id = o.region_id"
            " JOIN sub_activity s ON s.opd_id = o.id"
            " GROUP BY r.code, o.code ORDER BY count(*) DESC LIMIT 1"
        )
        province = await conn.fetchval("SELECT code FROM region WHERE level = 'PROVINCE'")
    finally:
        await conn.close()
    assert region is not None
    assert opd is not None
    settings = Settings(database_url=None, max_page_size=500)
    app = create_app(url, settings)
    async with app.router.lifespan_context(app):
        compiled = app.state.api.compiled
        assert isinstance(compiled, CompiledQueries)
        scopes: dict[str, Scope] = {
            "province": EVERYTHING,
            "public": PUBLIC,
            "regency": RegionScope("regency", region_code=region["code"]),
            "opd": OpdScope("opd", region_code=opd["region_code"], opd_code=opd["code"]),
        }
        codes = {
            "province": province,
            "regency": region["code"],
            "opd_region": opd["region_code"],
            "opd": opd["code"],
        }
        yield Both(app, compiled, settings, scopes, codes)


SCOPES = ["province", "public", "regency", "opd"]

# DEEP_CHAIN minus the payee (masked for public viewers: the ordinary path answers those).
DEEP_PUBLIC = DEEP_CHAIN.replace("payee { name taxId }", "")


@pytest.mark.parametrize("role", SCOPES)
@pytest.mark.parametrize("first", [0, 1, 25, 240])
async def test_deep_chain(both: Both, role: str, first: int) -> None:
    document = DEEP_CHAIN if role != "public" else DEEP_PUBLIC
    data = await both.same(document, {"fiscalYear": FY, "first": first}, both.scopes[role])
    assert len(data["subActivities"]["edges"]) <= first


async def test_deep_chain_has_data_at_every_level(both: Both) -> None:
    data = await both.same(DEEP_CHAIN, {"fiscalYear": FY, "first": 240}, EVERYTHING)
    nodes = [e["node"] for e in data["subActivities"]["edges"]]
    assert len(nodes) == 240 or data["subActivities"]["totalCount"] == len(nodes)
    assert any(n["budget"]["payments"] for n in nodes)
    assert any(
        p["payee"] and p["payee"]["taxId"] is None for n in nodes for p in n["budget"]["payments"]
    )
    assert any(
        b["vendor"] for n in nodes for p in n["procurementPackages"] for t in p["tenders"]
        for b in t["bids"]
    )  # fmt: skip
    assert any(n["discrepancies"] for n in nodes)
    stale = {ln["provenance"]["stale"] for n in nodes for ln in n["budget"]["lines"]}
    assert stale == {True}  # bpkad-keuangan is DOWN


@pytest.mark.parametrize("role", SCOPES)
async def test_filters(both: Both, role: str) -> None:
    scope = both.scopes[role]
    doc = DEEP_CHAIN if role != "public" else DEEP_PUBLIC
    c = both.codes
    filters: list[dict[str, Any]] = [
        {"regionCode": c["province"]},
        {"regionCode": c["regency"]},
        {"regionCode": "99"},
        {"opdCode": c["opd"]},
        {"opdCode": c["opd"], "regionCode": c["opd_region"]},
        {"stage": "CONTRACTED"},
        {"stage": "PLANNED"},
        {"search": "a"},
        {"search": "100%_\\"},
        {"hasDiscrepancies": True},
        {"hasDiscrepancies": False},
        {"regionCode": c["province"], "stage": "IMPLEMENTING", "hasDiscrepancies": False},
    ]
    document = doc.replace(
        "filter: {fiscalYear: $fiscalYear, regionCode: $regionCode}", "filter: $filter"
    ).replace("$regionCode: String,", "$filter: SubActivityFilter!,")
    for extra in filters:
        variables = {"filter": {"fiscalYear": FY, **extra}, "first": 30, "fiscalYear": FY}
        await both.same(document, variables, scope)


@pytest.mark.parametrize("role", SCOPES)
async def test_pages_follow_on(both: Both, role: str) -> None:
    document = """
    query($after: String, $region: String) {
      subActivities(filter: {fiscalYear: 2025, regionCode: $region}, first: 17, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id code } }
      }
    }"""
    scope = both.scopes[role]
    after = None
    seen: list[str] = []
    for _ in range(30):
        data = await both.same(document, {"after": after, "region": None}, scope)
        page = data["subActivities"]
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == page["totalCount"]


async def test_fragments_aliases_typenames_and_directives(both: Both) -> None:
    document = """
    query($with: Boolean!, $without: Boolean!) {
      __typename
      first: subActivities(filter: {fiscalYear: 2025}, first: 5) {
        __typename
        edges { __typename node { ...Chain ... on SubActivity { code2: code } } }
      }
      second: subActivities(filter: {fiscalYear: 2025}, first: 3, after: null) {
        pageInfo { ... on PageInfo { endCursor } }
        edges { node { id ...on Node { id } code @include(if: $with) name @skip(if: $with)
                       budget { allocated } budget { paid lines { amount } } } }
      }
      __typename
    }
    fragment Chain on SubActivity {
      __typename id plannedAmount
      same: plannedAmount
      opd { __typename ...OpdBits region { parent { code } children { code } } }
      procurementPackages {
        subActivity { code } tenders { packages { rupCode } contract { vendor { name } } }
      }
      budget { payments { contract { number value } payee { name } } }
      discrepancies {
        id rule severity message fiscalYear region { code } opd { code } subActivity { code }
      }
      provenance { sourceKey stale source { id name kind status lastError rows owner { code } } }
      name @include(if: $without)
    }
    fragment OpdBits on Opd { id code name }
    """
    for flags in ({"with": True, "without": False}, {"with": False, "without": True}):
        data = await both.same(document, flags, EVERYTHING)
        assert list(data) == ["__typename", "first", "second"]


@pytest.mark.parametrize(
    ("document", "role"),
    [
        # Masked for public viewers: null + FORBIDDEN comes from the ordinary path.
        ("{ subActivities(filter: {fiscalYear: 2025}, first: 2) { edges { node "
         "{ procurementPackages { tenders { winner { taxId } } } } } } }", "public"),
        ("{ subActivities(filter: {fiscalYear: 2025}, first: 2) { edges { node "
         "{ budget { payments { payee { name } } } } } } }", "public"),
        # A nested page whose size is a variable (what the ordinary path refuses depends on
        # its value, and the statement is kept for other values).
        ("query($fy: Int!) { subActivities(filter: {fiscalYear: 2025}, first: 2) { edges { node "
         "{ opd { subActivities(fiscalYear: 2025, first: $fy) { totalCount } } } } } }",
         "province"),
        # Fields that are not plain data (evidence is rendered from jsonb).
        ("{ discrepancies { edges { node { evidence { entity } } } } }", "province"),
    ],
)  # fmt: skip
async def test_declines_what_it_cannot_answer_alike(both: Both, document: str, role: str) -> None:
    variables = {"fy": 2025} if "$fy" in document else {}
    await both.same(document, variables, both.scopes[role], compiled=False)


@pytest.mark.parametrize(
    "document",
    [
        # Timestamps, as Python's isoformat writes them.
        "{ subActivities(filter: {fiscalYear: 2025}, first: 20) "
        "{ edges { node { provenance { syncedAt source { lastSyncedAt lastSuccessAt } } } } } }",
        "{ regions { code name level parent { code } children { code } } }",
        '{ regions(level: REGENCY) { code } region(code: "53") { name } }',
        "{ sources { id status rows owner { code } } subActivities(filter: {fiscalYear: 2025}) "
        "{ totalCount } }",
        "{ opds(first: 7) { totalCount pageInfo { hasNextPage endCursor } "
        "edges { cursor node { id code name region { code } } } } }",
        # Summaries and nested pages, per parent row.
        "{ regions { code summary(fiscalYear: 2025) { subActivities plannedAmount allocated "
        "procurementCeiling contracted paid physicalPercent openDiscrepancies } "
        "opds(first: 3) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor "
        "endCursor } edges { cursor node { code summary(fiscalYear: 2026) { paid } "
        "subActivities(fiscalYear: 2025, first: 2) { totalCount edges { node { code } } } } } "
        "} } }",
        "{ discrepancies(filter: {open: true}, first: 9) { totalCount edges { cursor node { "
        "id rule severity message fiscalYear detectedAt resolvedAt region { code } opd { code } "
        "subActivity { code } } } } }",
    ],
)
@pytest.mark.parametrize("role", SCOPES)
async def test_more_roots_and_timestamps_compile(both: Both, document: str, role: str) -> None:
    await both.same(document, {}, both.scopes[role])


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 501}, "PAGE_TOO_LARGE"),
        ({"first": -1}, "BAD_USER_INPUT"),
        ({"first": 5, "after": "bm90LWEtY3Vyc29y"}, "BAD_CURSOR"),
    ],
)
async def test_bad_arguments_get_the_ordinary_errors(
    both: Both, variables: dict[str, Any], code: str
) -> None:
    """Over HTTP, with the compiled path on: the answer is the ordinary path's error."""
    document = """query($first: Int, $after: String) {
      subActivities(filter: {fiscalYear: 2025}, first: $first, after: $after) { totalCount } }"""
    transport = httpx.ASGITransport(app=both.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        response = await client.post(
            "/graphql",
            json={"query": document, "variables": variables},
        )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == code, body


async def test_http_answers_compiled(both: Both) -> None:
    before = both.compiled.answered
    transport = httpx.ASGITransport(app=both.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        response = await client.post(
            "/graphql", json={"query": DEEP_CHAIN, "variables": {"fiscalYear": FY, "first": 3}}
        )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert len(body["data"]["subActivities"]["edges"]) == 3
    assert both.compiled.answered == before + 1


# --------------------------------------------------------------------------- random documents


def _random_selection(rng: random.Random, type_: GraphQLObjectType, depth: int) -> str:
    """Fields the compiler knows (their declarations in schema/fields.py), at random."""
    names = [
        n
        for n, f in type_.fields.items()
        if source_of(f) is not None and not f.args and get_named_type(f.type).name != "DateTime"
    ]
    if not names:
        return "__typename"
    chosen = rng.sample(names, k=rng.randint(1, min(5, len(names))))
    parts = []
    for name in chosen:
        field_type = get_named_type(type_.fields[name].type)
        alias = f"a{rng.randint(0, 9)}_{name}: " if rng.random() < 0.15 else ""
        if isinstance(field_type, GraphQLObjectType):
            if depth <= 0:
                continue
            inner = _random_selection(rng, field_type, depth - 1)
            parts.append(f"{alias}{name} {{ {inner} }}")
        else:
            parts.append(f"{alias}{name}")
    if rng.random() < 0.1:
        parts.append("__typename")
    return " ".join(parts) or "__typename"


async def test_random_documents(both: Both) -> None:
    rng = random.Random(20261129)
    node_type = default_schema._schema.get_type("SubActivity")
    assert isinstance(node_type, GraphQLObjectType)
    compiled = 0
    for i in range(60):
        selection = _random_selection(rng, node_type, depth=rng.randint(1, 5))
        document = (
            "query($first: Int) { subActivities(filter: {fiscalYear: 2025}, first: $first) "
            f"{{ totalCount edges {{ cursor node {{ {selection} }} }} }} }}"
        )
        role = SCOPES[i % len(SCOPES)]
        scope = both.scopes[role]
        ordinary = await both.ordinary(document, {"first": 40}, scope)
        fast = await both.fast(document, {"first": 40}, scope)
        if fast is None:
            continue  # e.g. a masked field for a public viewer
        compiled += 1
        assert ordinary.errors is None, (document, ordinary.errors)
        expected = orjson.loads(orjson.dumps(ordinary.data))
        got = orjson.loads(orjson.dumps(fast.data))
        assert got == expected, (
            document,
            role,
            first_difference(got, expected, names=("compiled", "ordinary")),
        )
    assert compiled >= 45


async def test_follow_up_counts_compile_as_the_province_page_asks_them(both: Both) -> None:
    """The dashboard's province page: every Pemda's and every OPD's follow-up counts with
    the Pemda summaries, in one statement for each viewer that may see them; the public,
    who may not, gets the ordinary path's FORBIDDEN."""
    url = both.app.state.engine.url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            """
            INSERT INTO follow_up (discrepancy_id, region_id, opd_id, fiscal_year, state,
                due_on, note, assigned_by, assigner_role, assigned_at, answered_at, version)
            SELECT d.id, d.region_id, d.opd_id, d.fiscal_year,
                   (ARRAY['ASSIGNED', 'ANSWERED', 'RETURNED', 'ACCEPTED'])[1 + d.id % 4],
                   DATE '2025-01-01' + (d.id % 900)::int, 'Mohon dijelaskan', 'test',
                   'PROVINCE', now() - interval '40 days',
                   CASE WHEN d.id % 4 IN (1, 3) THEN now() - make_interval(secs => d.id * 4321)
                   END, 1
            FROM discrepancy d WHERE d.opd_id IS NOT NULL AND d.id % 2 = 0
            ON CONFLICT DO NOTHING
            """
        )
    finally:
        await conn.close()
    counts = "assigned awaiting answered accepted overdue medianDaysToAnswer"
    document = (
        "query ($fy: Int!) { regions { code summary(fiscalYear: $fy) { subActivities paid } "
        f"followUps(fiscalYear: $fy) {{ {counts} }} opds(first: 500) {{ edges {{ node {{ code "
        f"followUps(fiscalYear: $fy) {{ {counts} }} }} }} }} }} }}"
    )
    for role in ("regency", "opd"):
        await both.same(document, {"fy": 2025}, both.scopes[role])
    province = await both.same(document, {"fy": 2025}, both.scopes["province"])
    assigned = sum(r["followUps"]["assigned"] for r in province["regions"])
    assert assigned > 0, "the follow-ups inserted above are counted"
    await both.same(document, {"fy": 2025}, both.scopes["public"], compiled=False)
