"""Access control and hardening: who sees what (role × entity × field), credentials, the
abuse suite (each refused with a code, the process still serving), production mode, the
audit chain, trusted documents and the WebSocket door."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from graphql import GraphQLError, located_error

from estate.synthetic import seed_canonical
from hub.auth import keys
from hub.auth.audit import verify
from hub.auth.guard import document_hash
from hub.auth.tokens import jwks_of_public_key
from hub.db import asyncpg_dsn
from hub.events.changelog import Change
from hub.migrate import run_async
from hub.serving.app import InsecureSettings, create_app
from hub.serving.responses import format_result
from hub.settings import Settings
from hub.sync.bindings import BY_ENTITY
from hub.sync.writer import Writer
from tests.conftest import Server, running
from tests.test_subscriptions import next_message

SECRET_KEY = "test-secret-key-for-the-security-suite-0123456789"
JWT_SECRET = "test-jwt-secret-for-the-security-suite-0123456789"
FY = 2025
REGENCY = "53.01"


@dataclass
class Hub:
    url: str  # the store
    dsn: str
    settings: Settings
    client: httpx.AsyncClient
    keys: dict[str, str]
    opd: str  # the OPD of the opd key (in 53.01)

    async def post(self, body: Any, key: str | None = None, **headers: str) -> httpx.Response:
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return await self.client.post("/graphql", json=body, headers=headers)

    async def query(
        self, document: str, variables: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        response = await self.post({"query": document, "variables": variables}, key)
        body: dict[str, Any] = response.json()
        return body

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


def secure_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "secret_key": SECRET_KEY,
        "jwt_secret": JWT_SECRET,
        "dev_anonymous_role": "public",
        "max_page_size": 500,
        "rate_limit_per_minute": 100_000,
    }
    values.update(overrides)
    return Settings(**values)


async def _seeded(server: Server, name: str) -> str:
    url = await server.create_database(name)
    await run_async(url, "upgrade", "head")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed_canonical(conn, sub_activities=300, seed=3, fiscal_year=FY)
        # One open ketimpangan per OPD, so that their visibility can be checked.
        await conn.execute(
            """INSERT INTO discrepancy (rule, subject_key, severity, message, fiscal_year,
                                        region_id, opd_id, evidence)
            SELECT 'PLAN_WITHOUT_BUDGET', 'test/' || o.id, 'INFO', 'uji', $1, o.region_id,
                   o.id, '[]' FROM opd o""",
            FY,
        )
    finally:
        await conn.close()
    return url


async def _make_keys(dsn: str, opd: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        made = {
            "province": (await keys.create(conn, SECRET_KEY, "province"))[0],
            "regency": (await keys.create(conn, SECRET_KEY, "regency", REGENCY))[0],
            "opd": (await keys.create(conn, SECRET_KEY, "opd", REGENCY, opd))[0],
        }
    finally:
        await conn.close()
    return made


@pytest.fixture(scope="module")
async def hub(server: Server) -> AsyncIterator[Hub]:
    url = await _seeded(server, "rantai_security")
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        opd = await conn.fetchval(
            """SELECT o.code FROM opd o JOIN region r ON r.id = o.region_id
            JOIN sub_activity s ON s.opd_id = o.id JOIN payment p ON p.sub_activity_id = s.id
            WHERE r.code = $1 GROUP BY o.code ORDER BY count(*) DESC LIMIT 1""",
            REGENCY,
        )
    finally:
        await conn.close()
    made = await _make_keys(dsn, opd)
    settings = secure_settings(url)
    app = create_app(url, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Hub(url, dsn, settings, client, made, opd)


# --- who sees what --------------------------------------------------------------------------

CHAIN = """
query ($fy: Int!) {
  regions { code }
  opds(first: 500) { totalCount }
  discrepancies(first: 500) { totalCount edges { node { region { code } opd { code } } } }
  subActivities(filter: {fiscalYear: $fy}, first: 500) {
    totalCount
    edges { node {
      code opd { code region { code } }
      budget { lines { accountCode } payments { sp2dNumber payee { name } } }
      procurementPackages { rupCode tenders { code bids { amount vendor { name taxId } } } }
      progressReports { period }
      discrepancies { rule }
    } }
  }
}
"""


def _nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in data["subActivities"]["edges"]]


def _count(nodes: list[dict[str, Any]], pick: Callable[[dict[str, Any]], list[Any]]) -> int:
    return sum(len(pick(n)) for n in nodes)


def _payments(n: dict[str, Any]) -> list[Any]:
    return list(n["budget"]["payments"])


def _lines(n: dict[str, Any]) -> list[Any]:
    return list(n["budget"]["lines"])


def _bids(n: dict[str, Any]) -> list[Any]:
    return [b for p in n["procurementPackages"] for t in p["tenders"] for b in t["bids"]]


async def test_province_sees_everything(hub: Hub) -> None:
    body = await hub.query(CHAIN, {"fy": FY}, hub.keys["province"])
    assert "errors" not in body, body.get("errors")
    data = body["data"]
    [(all_sa,)] = await hub.fetch("SELECT count(*) FROM sub_activity WHERE fiscal_year = $1", FY)
    [(all_pay,)] = await hub.fetch("SELECT count(*) FROM payment WHERE sub_activity_id IS NOT NULL")
    assert {r["code"] for r in data["regions"]} == {"53", "53.01", "53.71"}
    nodes = _nodes(data)
    assert data["subActivities"]["totalCount"] == all_sa == len(nodes)
    assert _count(nodes, _payments) == all_pay > 0
    assert all(b["vendor"]["taxId"] for n in nodes for b in _bids(n) if b["vendor"])


async def test_a_regency_key_sees_its_pemda_only(hub: Hub) -> None:
    body = await hub.query(CHAIN, {"fy": FY}, hub.keys["regency"])
    assert "errors" not in body, body.get("errors")
    data = body["data"]
    [(mine,)] = await hub.fetch(
        "SELECT count(*) FROM sub_activity s JOIN region r ON r.id = s.region_id "
        "WHERE s.fiscal_year = $1 AND r.code = $2",
        FY,
        REGENCY,
    )
    [(pays,)] = await hub.fetch(
        "SELECT count(*) FROM payment p JOIN region r ON r.id = p.region_id "
        "WHERE r.code = $1 AND p.sub_activity_id IS NOT NULL",
        REGENCY,
    )
    assert [r["code"] for r in data["regions"]] == [REGENCY]
    nodes = _nodes(data)
    assert data["subActivities"]["totalCount"] == mine == len(nodes) > 0
    assert {n["opd"]["region"]["code"] for n in nodes} == {REGENCY}
    assert _count(nodes, _payments) == pays > 0
    regions = {e["node"]["region"]["code"] for e in data["discrepancies"]["edges"]}
    assert regions == {REGENCY}


async def test_an_opd_key_sees_its_opd_only(hub: Hub) -> None:
    body = await hub.query(CHAIN, {"fy": FY}, hub.keys["opd"])
    assert "errors" not in body, body.get("errors")
    data = body["data"]
    [(mine,)] = await hub.fetch(
        "SELECT count(*) FROM sub_activity s JOIN opd o ON o.id = s.opd_id "
        "JOIN region r ON r.id = s.region_id WHERE s.fiscal_year = $1 AND r.code = $2 "
        "AND o.code = $3",
        FY,
        REGENCY,
        hub.opd,
    )
    nodes = _nodes(data)
    assert data["subActivities"]["totalCount"] == mine == len(nodes) > 0
    assert {(n["opd"]["code"], n["opd"]["region"]["code"]) for n in nodes} == {(hub.opd, REGENCY)}
    assert data["opds"]["totalCount"] == 1
    assert data["discrepancies"]["totalCount"] == 1
    assert _count(nodes, _payments) > 0


async def test_the_public_sees_the_published_chain_without_personal_data(hub: Hub) -> None:
    body = await hub.query(CHAIN, {"fy": FY})
    data = body["data"]
    [(all_sa,)] = await hub.fetch("SELECT count(*) FROM sub_activity WHERE fiscal_year = $1", FY)
    nodes = _nodes(data)
    assert data["subActivities"]["totalCount"] == all_sa  # the plan is published
    assert _count(nodes, _bids) > 0  # so are tenders and bids
    assert _count(nodes, _payments) == 0  # SP2D rows are not
    assert _count(nodes, _lines) == 0
    assert _count(nodes, lambda n: n["progressReports"]) == 0
    assert _count(nodes, lambda n: n["discrepancies"]) == 0
    assert data["discrepancies"]["totalCount"] == 0
    masked = [e for e in body["errors"] if e["path"][-1] == "taxId"]
    assert masked
    assert all(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"])
    assert all(b["vendor"]["taxId"] is None for n in nodes for b in _bids(n) if b["vendor"])


SUMMARY = "{ regions { code summary(fiscalYear: 2025) { paid allocated subActivities } } }"


async def test_aggregates_are_public(hub: Hub) -> None:
    anonymous = await hub.query(SUMMARY)
    province = await hub.query(SUMMARY, key=hub.keys["province"])
    assert anonymous["data"] == province["data"]
    assert any(float(r["summary"]["paid"]) > 0 for r in anonymous["data"]["regions"])


async def test_node_by_id_is_scoped(hub: Hub) -> None:
    [(other,)] = await hub.fetch(
        "SELECT s.id FROM sub_activity s JOIN region r ON r.id = s.region_id "
        "WHERE r.code = '53.71' LIMIT 1"
    )
    from hub.store.codec import global_id

    document = "query ($id: ID!) { node(id: $id) { id } }"
    variables = {"id": global_id("SubActivity", other)}
    seen = await hub.query(document, variables, hub.keys["province"])
    hidden = await hub.query(document, variables, hub.keys["regency"])
    assert seen["data"]["node"] == {"id": variables["id"]}
    assert hidden["data"]["node"] is None


# --- credentials ----------------------------------------------------------------------------


def _token(secret: str = JWT_SECRET, **claims: Any) -> str:
    payload = {"sub": "tester", "exp": int(time.time()) + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Bearer rk_00000000_" + "x" * 43, "unknown API key"),
        ("Bearer rk_zzz", "malformed API key"),
        ("Basic dXNlcjpwYXNz", "Authorization: Bearer"),
        ("Bearer not.a.token", "malformed bearer token"),
    ],
)
async def test_a_bad_credential_is_401_never_anonymous(hub: Hub, header: str, why: str) -> None:
    response = await hub.post({"query": "{ regions { code } }"}, Authorization=header)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert why in error["message"]


async def test_jwt_hs256_gives_its_role_and_a_bad_one_is_refused(hub: Hub) -> None:
    regency = _token(role="regency", region=REGENCY)
    body = await hub.query("{ regions { code } }", key=regency)
    assert body["data"]["regions"] == [{"code": REGENCY}]
    for bad in (
        _token(secret="another-secret-that-is-long-enough-000000", role="province"),
        _token(role="province", exp=int(time.time()) - 10),
        _token(role="province", exp=1e30),  # never expires: could never be taken back
        _token(role="opd", region=REGENCY),  # an opd token needs its OPD
        _token(role="emperor"),
        _token(role="province", sub=None),  # who? the audit log and rate limit need one
        _token(role="province", sub=" "),
        _token(role="province", sub=7),
    ):
        response = await hub.post({"query": "{ regions { code } }"}, bad)
        assert response.status_code == 401, bad


async def test_jwt_rs256_from_a_jwks_file(server: Server, hub: Hub, tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(jwks_of_public_key(pem, "k1"))
    app = create_app(hub.url, secure_settings(hub.url, jwt_secret=None, jwt_jwks_file=jwks))
    token = jwt.encode(
        {"sub": "sso", "role": "opd", "region": REGENCY, "opd": hub.opd,
         "exp": int(time.time()) + 60},
        private,
        algorithm="RS256",
        headers={"kid": "k1"},
    )  # fmt: skip
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            ok = await client.post(
                "/graphql",
                json={"query": "{ opds(first: 10) { edges { node { code } } } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            forged = await client.post(
                "/graphql",
                json={"query": "{ regions { code } }"},
                headers={"Authorization": f"Bearer {_token(role='province')}"},  # HS256
            )
    assert [e["node"]["code"] for e in ok.json()["data"]["opds"]["edges"]] == [hub.opd]
    assert forged.status_code == 401


async def test_a_revoked_key_stops_at_once(hub: Hub) -> None:
    conn = await asyncpg.connect(hub.dsn)
    try:
        key, prefix = await keys.create(conn, SECRET_KEY, "province", label="short-lived")
        assert (await hub.post({"query": "{ regions { code } }"}, key)).status_code == 200
        assert await keys.revoke(conn, SECRET_KEY, prefix)
    finally:
        await conn.close()
    response = await hub.post({"query": "{ regions { code } }"}, key)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


# --- abuse: each refused with a code, the process keeps serving -------------------------------


def _deep(levels: int) -> str:
    return "{ regions { " + "children { " * levels + "code" + " }" * levels + " } }"


ALIASES = "fragment F on Region { " + " ".join(f"a{i}: code" for i in range(31)) + " }"
ABUSE = [
    ("depth", {"query": _deep(20)}, 200, "DEPTH_LIMIT_EXCEEDED"),
    ("aliases in fragments", {"query": "{ regions { ...F } } " + ALIASES}, 200,
     "ALIAS_LIMIT_EXCEEDED"),
    ("circular fragments",
     {"query": "{ regions { ...A } } fragment A on Region { children { ...B } } "
               "fragment B on Region { children { ...A } }"}, 200, "GRAPHQL_VALIDATION_FAILED"),
    ("token flood", {"query": "{ " + "__typename " * 6000 + "}"}, 200, "TOKEN_LIMIT_EXCEEDED"),
    ("cost", {"query": "{ regions { opds(first: 500) { edges { node { subActivities("
              "fiscalYear: 2025, first: 500) { edges { node { procurementPackages { tenders {"
              " bids { amount } } } } } } } } } } }"}, 200, "COST_LIMIT_EXCEEDED"),
    ("batch", [{"query": "{ regions { code } }"}] * 2, 400, "BAD_REQUEST"),
    ("oversized body", {"query": "{ regions { code } }", "variables": {"x": "y" * 200_000}}, 413,
     "BODY_TOO_LARGE"),
    ("introspection flood of aliases",
     {"query": "{ " + " ".join(f"t{i}: __typename" for i in range(40)) + " }"}, 200,
     "ALIAS_LIMIT_EXCEEDED"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "status", "code"), ABUSE, ids=[a[0] for a in ABUSE])
async def test_abuse_is_refused_with_a_code(
    hub: Hub, name: str, body: Any, status: int, code: str
) -> None:
    response = await hub.post(body, hub.keys["province"])
    assert response.status_code == status, response.text[:300]
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == code, errors
    assert "data" not in response.json()  # refused before execution
    healthy = await hub.query("{ regions { code } }", key=hub.keys["province"])
    assert len(healthy["data"]["regions"]) == 3


async def test_rate_limit_and_timeout(hub: Hub) -> None:
    app = create_app(
        hub.url, secure_settings(hub.url, rate_limit_per_minute=5, execution_timeout_seconds=0.001)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            statuses = []
            for _ in range(7):
                response = await client.post(
                    "/graphql",
                    json={"query": CHAIN, "variables": {"fy": FY}},
                    headers={"Authorization": f"Bearer {hub.keys['province']}"},
                )
                statuses.append(response.status_code)
                if response.status_code == 503:
                    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert statuses[:5] == [503] * 5  # the deep chain takes longer than 1 ms
    assert statuses[5:] == [429, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


# --- production -----------------------------------------------------------------------------


def test_production_refuses_development_secrets(tmp_path: Path) -> None:
    with pytest.raises(InsecureSettings, match="RANTAI_SECRET_KEY"):
        create_app("postgresql://x@127.0.0.1/y", Settings(env="production"))
    with pytest.raises(InsecureSettings, match="RANTAI_JWT_SECRET"):
        create_app(
            "postgresql://x@127.0.0.1/y",
            Settings(env="production", secret_key=SECRET_KEY, jwt_secret="changeme"),
        )
    with pytest.raises(InsecureSettings, match="RANTAI_SECRET_KEY"):  # long, not random
        create_app("postgresql://x@127.0.0.1/y", Settings(env="production", secret_key="x" * 43))
    with pytest.raises(InsecureSettings, match="ANONYMOUS_ROLE"):
        create_app(
            "postgresql://x@127.0.0.1/y",
            Settings(env="production", secret_key=SECRET_KEY, dev_anonymous_role="province"),
        )


async def test_production_hides_the_schema_from_anonymous_viewers(hub: Hub) -> None:
    app = create_app(hub.url, secure_settings(hub.url, env="production"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            intro = "{ __schema { queryType { name } } }"
            anonymous = await client.post("/graphql", json={"query": intro})
            authenticated = await client.post(
                "/graphql",
                json={"query": intro},
                headers={"Authorization": f"Bearer {hub.keys['province']}"},
            )
            typo = await client.post("/graphql", json={"query": "{ regionz { code } }"})
            page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in anonymous.json()["errors"][0]["message"]
    assert authenticated.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "Did you mean" not in typo.text
    assert page.status_code == 404


def test_unexpected_errors_are_masked_in_production() -> None:
    error = located_error(ValueError("password=hunter2 at db-7"), None, ["regions"])
    shown, _ = format_result(type("R", (), {"data": None, "errors": [error]})(), mask=True)
    plain, _ = format_result(type("R", (), {"data": None, "errors": [error]})(), mask=False)
    assert shown["errors"][0]["message"] == "Internal server error."
    assert shown["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "hunter2" in plain["errors"][0]["message"]
    expected = GraphQLError("bad cursor", extensions={"code": "BAD_CURSOR"})
    kept, _ = format_result(type("R", (), {"data": None, "errors": [expected]})(), mask=True)
    assert kept["errors"][0]["message"] == "bad cursor"


# --- trusted documents ----------------------------------------------------------------------


async def test_trusted_documents_only(hub: Hub, tmp_path: Path) -> None:
    known = "{ regions { code } }"
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({document_hash(known): known}))
    app = create_app(hub.url, secure_settings(hub.url, trusted_documents=manifest))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            by_id = await client.post("/graphql", json={"documentId": document_hash(known)})
            by_text = await client.post("/graphql", json={"query": known})
            other = await client.post("/graphql", json={"query": "{ sources { id } }"})
            unknown = await client.post("/graphql", json={"documentId": "sha256:" + "0" * 64})
            # The open-data routes run the hub's own documents: they stay open.
            releases = await client.get(f"/ocds/53/{FY}/releases.json")
            download = await client.get("/export/sub-kegiatan.csv", params={"fiscalYear": FY})
    assert releases.status_code == 200, releases.text
    assert releases.json()["releases"] is not None
    assert download.status_code == 200, download.text
    assert len(by_id.json()["data"]["regions"]) == 3
    assert by_text.status_code == 200
    for refused in (other, unknown):
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"


# --- the audit chain ------------------------------------------------------------------------


async def test_the_audit_log_chains_requests_and_detects_an_edit(server: Server) -> None:
    url = await _seeded(server, "rantai_audit")
    dsn = asyncpg_dsn(url)
    made = await _make_keys(dsn, "1.02.0.00.0.00.01.0000")
    app = create_app(url, secure_settings(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            for role in ("province", "regency"):
                await client.post(
                    "/graphql",
                    json={"query": "query Mine { regions { code } }"},
                    headers={"Authorization": f"Bearer {made[role]}"},
                )
            await client.post("/graphql", json={"query": "{ regions { code } }"})  # anonymous
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT kind, actor, detail FROM audit_log ORDER BY id")
        assert [r["kind"] for r in rows] == ["key.create"] * 3 + ["request"] * 2
        assert json.loads(rows[-1]["detail"])["operation"] == "Mine"
        assert (await verify(conn, SECRET_KEY)).intact
        [(target,)] = await conn.fetch("SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 3")
        await conn.execute(
            'UPDATE audit_log SET detail = \'{"operation": "Other"}\' WHERE id = $1', target
        )
        report = await verify(conn, SECRET_KEY)
    finally:
        await conn.close()
    assert report.checked == 5
    assert [record for record, _ in report.problems] == [target]


# --- WebSocket ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def live(hub: Hub) -> AsyncIterator[str]:
    app = create_app(hub.url, secure_settings(hub.url, ws_max_subscriptions=2))
    async with running(app) as port:
        yield f"ws://127.0.0.1:{port}/graphql"


async def _connect(url: str, key: str | None) -> websockets.ClientConnection:
    ws = await websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    )
    init: dict[str, Any] = {"type": "connection_init"}
    if key is not None:
        init["payload"] = {"Authorization": f"Bearer {key}"}
    await ws.send(json.dumps(init))
    return ws


CHANGES = "subscription { changes { entity regionCode opdCode } }"


async def test_websocket_refuses_a_bad_credential_with_4403(live: str) -> None:
    ws = await _connect(live, "rk_00000000_" + "x" * 43)
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4403


async def test_events_reach_only_the_viewers_who_may_see_them(hub: Hub, live: str) -> None:
    sockets = {}
    for name, key in (("opd", hub.keys["opd"]), ("regency", hub.keys["regency"]),
                      ("public", None), ("province", hub.keys["province"])):  # fmt: skip
        ws = await _connect(live, key)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": CHANGES}}))
        sockets[name] = ws
    await asyncio.sleep(0.5)
    rows = await hub.fetch(
        """SELECT DISTINCT ON (r.code, o.code = $2 AND r.code = $1) p.id, r.code, o.code AS opd
        FROM payment p JOIN region r ON r.id = p.region_id JOIN sub_activity s
        ON s.id = p.sub_activity_id JOIN opd o ON o.id = s.opd_id
        ORDER BY r.code, o.code = $2 AND r.code = $1, p.id""",
        REGENCY,
        hub.opd,
    )
    mine = next(r for r in rows if r["code"] == REGENCY and r["opd"] == hub.opd)
    neighbour = next(r for r in rows if r["code"] == REGENCY and r["opd"] != hub.opd)
    elsewhere = next(r for r in rows if r["code"] == "53.71")
    conn = await asyncpg.connect(hub.dsn)
    try:
        async with conn.transaction():
            changes = [
                Change(r["id"], f"k{r['id']}", "UPDATED", {"amount": "1"}, {"amount": "2"})
                for r in (mine, neighbour, elsewhere)
            ]
            await Writer(conn, "bpkad-sipd").record(BY_ENTITY["payment"], changes)
    finally:
        await conn.close()

    async def received(ws: websockets.ClientConnection, count: int) -> list[tuple[str, str]]:
        got = []
        for _ in range(count):
            message = await next_message(ws, wait=10)
            event = message["payload"]["data"]["changes"]
            got.append((event["regionCode"], event["opdCode"]))
        return got

    assert await received(sockets["province"], 3) == [
        (REGENCY, mine["opd"]), (REGENCY, neighbour["opd"]), ("53.71", elsewhere["opd"])
    ]  # fmt: skip
    assert await received(sockets["regency"], 2) == [
        (REGENCY, mine["opd"]), (REGENCY, neighbour["opd"])
    ]  # fmt: skip
    assert await received(sockets["opd"], 1) == [(REGENCY, hub.opd)]
    for name in ("opd", "regency", "public"):  # nothing else: payments are not public
        with pytest.raises(TimeoutError):
            await next_message(sockets[name], wait=1)
    for ws in sockets.values():
        await ws.close()


async def test_websocket_caps_operations_per_connection(hub: Hub, live: str) -> None:
    ws = await _connect(live, hub.keys["province"])
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    for op in ("a", "b", "c"):
        await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": {"query": CHANGES}}))
    message = await next_message(ws, wait=5)
    assert message["id"] == "c"
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await ws.recv()) == {"type": "pong"}  # the connection stays
    await ws.close()


# --- the CLI --------------------------------------------------------------------------------


async def test_keys_and_audit_from_the_command_line(server: Server) -> None:
    from tests.test_cli import run

    url = await server.create_database("rantai_keys_cli")
    env = {"RANTAI_DATABASE_URL": url, "RANTAI_SECRET_KEY": SECRET_KEY}
    made = await asyncio.to_thread(
        run, "keys", "create", "--role", "opd", "--region", REGENCY,
        "--opd", "1.02.0.00.0.00.01.0000", "--label", "Dinkes Kupang", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    prefix = keys.parse(key)
    assert prefix is not None
    listed = await asyncio.to_thread(run, "keys", "list", env=env)
    assert f"rk_{prefix[0]}" in listed.stdout
    assert "Dinkes Kupang" in listed.stdout
    assert key not in listed.stdout  # the secret is never shown again
    wrong = await asyncio.to_thread(run, "keys", "create", "--role", "opd", env=env)
    assert wrong.returncode == 2
    assert "role opd needs --region CODE and --opd CODE" in wrong.stderr
    revoked = await asyncio.to_thread(run, "keys", "revoke", f"rk_{prefix[0]}", env=env)
    assert revoked.returncode == 0
    intact = await asyncio.to_thread(run, "audit", "verify", env=env)
    assert intact.returncode == 0
    assert "intact: 2 records" in intact.stdout  # key.create, key.revoke
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE kind = 'key.revoke'")
    finally:
        await conn.close()
    broken = await asyncio.to_thread(run, "audit", "verify", env=env)
    assert broken.returncode == 1
    assert "record 2: its content does not match its hash" in broken.stdout
    refused = await asyncio.to_thread(
        run, "serve", env={**env, "RANTAI_SECRET_KEY": "short", "RANTAI_ENV": "production"}
    )
    assert refused.returncode == 2
    assert "refusing to serve in production" in refused.stderr


async def test_batching_when_turned_on_is_capped(hub: Hub) -> None:
    app = create_app(hub.url, secure_settings(hub.url, max_batch=3))
    one = {"query": "{ regions { code } }"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            two = await client.post("/graphql", json=[one, {"query": "{ nope }"}])
            four = await client.post("/graphql", json=[one] * 4)
    assert two.status_code == 200
    answers = two.json()
    assert len(answers[0]["data"]["regions"]) == 3
    assert answers[1]["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert four.status_code == 400
    assert "1 to 3 operations" in four.json()["errors"][0]["message"]
