"""The public viewer knows it is public: every answer says so (`extensions.viewer`), lists
what the schema hid from it (`extensions.hidden`), and a subscription to what it cannot
see is refused with FORBIDDEN instead of staying silent; over HTTP and WebSocket alike.
Client errors are logged as one line, never as a traceback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from hub.serving.visibility import PUBLIC_HINT
from tests.conftest import Server
from tests.test_request_path import CHAIN, Door, _door, code
from tests.test_security import FY

TRANSPORTS = ["http", "websocket"]


@pytest.fixture(scope="module")
async def door(server: Server) -> AsyncIterator[Door]:
    async for d in _door(server, "rantai_public"):
        yield d


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_anonymous_answer_names_the_viewer_and_what_it_hides(
    door: Door, transport: str
) -> None:
    answer = await door.run(transport, CHAIN, {"fy": FY})
    assert answer["extensions"]["viewer"] == {"role": "public", "hint": PUBLIC_HINT}
    assert answer["extensions"]["hidden"] == [
        "subActivities.edges.node.budget.lines",
        "subActivities.edges.node.budget.payments",
    ]
    node = answer["data"]["subActivities"]["edges"][0]["node"]
    assert node["budget"]["lines"] == []
    assert node["budget"]["payments"] == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_hidden_root_list_is_named_too(door: Door, transport: str) -> None:
    answer = await door.run(
        transport, "query { discrepancies(first: 5) { totalCount } regions { code } }"
    )
    assert answer["extensions"]["hidden"] == ["discrepancies"]
    assert answer["data"]["discrepancies"]["totalCount"] == 0


async def test_a_refused_anonymous_request_names_the_viewer_too(door: Door) -> None:
    answer = await door.post({"query": "{ nope }"})
    assert code(answer) == "GRAPHQL_VALIDATION_FAILED"
    assert answer["extensions"]["viewer"]["role"] == "public"


@pytest.mark.parametrize("role", ["province", "regency", "opd"])
async def test_a_key_holder_gets_no_viewer_notice(door: Door, role: str) -> None:
    answer = await door.post({"query": CHAIN, "variables": {"fy": FY}}, door.keys[role])
    assert "extensions" not in answer


async def test_an_anonymous_subscription_to_hidden_changes_is_forbidden(door: Door) -> None:
    answer = await door.subscribe(
        """subscription { changes(filter: {regionCode: "53.71",
           entities: ["Payment", "ProgressReport"]}) { cursor } }"""
    )
    assert code(answer) == "FORBIDDEN"
    message = answer["errors"][0]["message"]
    assert "Payment, ProgressReport" in message
    assert "API key" in message


async def test_an_anonymous_subscription_to_ketimpangan_is_forbidden(door: Door) -> None:
    answer = await door.subscribe("subscription { discrepancyEvents { raised } }")
    assert code(answer) == "FORBIDDEN"


async def test_a_key_may_subscribe_to_what_the_public_may_not(door: Door) -> None:
    # A subscription that is accepted sends nothing until a change: no error within 1 s.
    import asyncio
    import json

    import websockets

    from tests.test_request_path import PROTOCOLS

    async with websockets.connect(
        f"ws://127.0.0.1:{door.port}/graphql", subprotocols=PROTOCOLS
    ) as ws:
        init = {"Authorization": f"Bearer {door.keys['province']}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": 'subscription { changes(filter: {entities: ["Payment"]}) { cursor } }'}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1)


async def test_a_wrongly_typed_variable_is_logged_as_one_line_without_traceback(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    answer = await door.post(
        {"query": "query Bad($fy: Int!) { regions { summary(fiscalYear: $fy) { paid } } }",
         "variables": {"fy": "dua ribu"}},
    )  # fmt: skip
    assert code(answer) == "BAD_USER_INPUT"
    records = [r for r in caplog.records if "client error" in r.getMessage()]
    assert len(records) == 1
    assert records[0].getMessage().startswith("client error BAD_USER_INPUT in Bad at -:")
    assert all(r.exc_info is None and r.stack_info is None for r in caplog.records)


async def test_a_malformed_anonymous_request_names_the_viewer_too(door: Door) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{door.port}") as client:
        response = await client.post(
            "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["extensions"]["viewer"]["role"] == "public"
