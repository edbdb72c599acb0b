"""GraphQL over HTTP: methods, media types and status codes of the GraphQL-over-HTTP spec,
GraphiQL served from the hub's own files, and the health probes."""

from __future__ import annotations

import re

import httpx
import pytest

from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import Api, Server

RESPONSE_TYPE = "application/graphql-response+json"
QUERY = "{ regions(level: PROVINCE) { code } }"


@pytest.fixture
def client(api: Api) -> httpx.AsyncClient:
    return api.client


async def test_post_json_answers_application_json_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": QUERY})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"regions": [{"code": "53"}]}}


async def test_post_answers_graphql_response_json_when_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": QUERY}, headers={"accept": f"{RESPONSE_TYPE}, application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == RESPONSE_TYPE


async def test_get_with_query_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query($c: String!) { region(code: $c) { code } }",
            "variables": '{"c": "53.01"}',
        },
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"region": {"code": "53.01"}}}


async def test_get_with_invalid_variables_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": QUERY, "variables": "{nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (RESPONSE_TYPE, 400)])
async def test_validation_error_status_depends_on_media_type(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await client.post("/graphql", json={"query": "{ nope }"}, headers={"accept": accept})
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (RESPONSE_TYPE, 400)])
async def test_parse_error_status_depends_on_media_type(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ regions "}, headers={"accept": accept}
    )
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_bad_variable_value_is_bad_user_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "query($c: String!) { region(code: $c) { code } }", "variables": {"c": 5}},
        headers={"accept": RESPONSE_TYPE},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_field_error_keeps_status_200_with_data(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": '{ a: region(code: "53") { code } b: node(id: "!!") { id } }'},
        headers={"accept": RESPONSE_TYPE},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"a": {"code": "53"}, "b": None}
    assert body["errors"][0]["path"] == ["b"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'"a string"', "application/json", 400),
        (b'{"variables": {}}', "application/json", 400),
        (b'{"query": 5}', "application/json", 400),
        (b'{"query": "{ regions { code } }", "variables": []}', "application/json", 400),
        (b"query { regions { code } }", "application/graphql", 415),
        (b"query=x", "application/x-www-form-urlencoded", 415),
    ],
)
async def test_malformed_requests_are_refused_before_execution(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    response = await client.post("/graphql", content=body, headers={"content-type": content_type})
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_unacceptable_accept_header_is_406(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": QUERY}, headers={"accept": "text/csv"})
    assert response.status_code == 406


async def test_other_methods_are_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/graphql", json={"query": QUERY})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_subscription_over_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "subscription { x }"})
    assert response.status_code in (400, 405)


async def test_browser_gets_graphiql_with_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    page = response.text
    assert "<title>Rantai — GraphiQL</title>" in page
    assert "__RANTAI_TABS__" not in page
    assert "subActivities(filter:" in page  # the example queries are preloaded
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    # The hub's own paths only (its static files, favicon, dashboard, console): no other host.
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "https://" not in page
    assert "http://" not in page
    for asset in sources:
        assert (await client.get(asset)).status_code == 200, asset


async def test_graphiql_css_loads_nothing_from_other_hosts(client: httpx.AsyncClient) -> None:
    css = (await client.get("/static/graphiql/graphiql.min.css")).text
    urls = re.findall(r"url\(([^)]*)\)", css)
    assert all(u.strip("'\"").startswith("data:") for u in urls)


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_current_revision(client: httpx.AsyncClient) -> None:
    from hub.migrate import head_revision

    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "revision": head_revision()}


async def test_readyz_is_503_until_migrated(server: Server, settings: Settings) -> None:
    url = await server.create_database("rantai_ready")
    app = create_app(url, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            pending = await client.get("/readyz")
            assert pending.status_code == 503
            assert pending.json()["status"] == "migrations pending"
            assert (await client.get("/healthz")).status_code == 200
            await run_async(url, "upgrade", "head")
            assert (await client.get("/readyz")).status_code == 200


async def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    app = create_app("postgresql+asyncpg://postgres@127.0.0.1:1/none", settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["status"] == "unavailable"
            assert (await client.get("/healthz")).status_code == 200
            body = await client.post("/graphql", json={"query": "{ regions { code } }"})
            assert body.status_code == 200
            [error] = body.json()["errors"]
            assert error["extensions"]["code"] == "STORE_UNAVAILABLE"
            assert "127.0.0.1" not in error["message"]
