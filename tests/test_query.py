"""Every Query field of contract.graphql, answered from the real store."""

from __future__ import annotations

import base64
from decimal import Decimal

import asyncpg

from hub.store.codec import global_id
from tests.conftest import Api

FY = 2025


async def test_regions_lists_every_pemda_by_code(api: Api) -> None:
    data = await api.data("{ regions { code name level parent { code } children { code } } }")
    assert [r["code"] for r in data["regions"]] == ["53", "53.01", "53.71"]
    province = data["regions"][0]
    assert province["level"] == "PROVINCE"
    assert province["parent"] is None
    assert [c["code"] for c in province["children"]] == ["53.01", "53.71"]
    assert data["regions"][2]["parent"] == {"code": "53"}


async def test_regions_filters_by_level(api: Api) -> None:
    data = await api.data("{ regions(level: CITY) { code } }")
    assert data["regions"] == [{"code": "53.71"}]


async def test_region_by_code_and_unknown_code_is_null(api: Api) -> None:
    data = await api.data('{ a: region(code: "53.01") { name } b: region(code: "99") { name } }')
    assert data == {"a": {"name": "Kabupaten Kupang"}, "b": None}


async def test_opd_by_region_and_code(api: Api) -> None:
    data = await api.data(
        """{ opd(regionCode: "53.71", code: "1.03.0.00.0.00.01.0000") { code name region { code } }
             missing: opd(regionCode: "53.71", code: "9.99.0.00.0.00.01.0000") { code } }"""
    )
    assert data["opd"] == {
        "code": "1.03.0.00.0.00.01.0000",
        "name": "Dinas Pekerjaan Umum dan Penataan Ruang",
        "region": {"code": "53.71"},
    }
    assert data["missing"] is None


async def test_province_region_code_includes_regency_opds(api: Api, db: asyncpg.Connection) -> None:
    everything = await db.fetchval("SELECT count(*) FROM opd")
    regency = await db.fetchval(
        "SELECT count(*) FROM opd JOIN region r ON r.id = opd.region_id WHERE r.code = '53.01'"
    )
    data = await api.data(
        """{ p: opds(regionCode: "53", first: 1) { totalCount }
             r: opds(regionCode: "53.01", first: 1) { totalCount }
             none: opds(regionCode: "77", first: 1) { totalCount edges { cursor } } }"""
    )
    assert data["p"]["totalCount"] == everything
    assert data["r"]["totalCount"] == regency
    assert data["none"] == {"totalCount": 0, "edges": []}


async def test_region_opds_are_the_pemdas_own(api: Api, db: asyncpg.Connection) -> None:
    own = await db.fetchval(
        "SELECT count(*) FROM opd JOIN region r ON r.id = opd.region_id WHERE r.code = '53'"
    )
    data = await api.data(
        '{ region(code: "53") { opds(first: 100) { '
        "totalCount edges { node { region { code } } } } } }"
    )
    opds = data["region"]["opds"]
    assert opds["totalCount"] == own
    assert {e["node"]["region"]["code"] for e in opds["edges"]} == {"53"}


async def test_sub_activity_by_natural_key(api: Api, db: asyncpg.Connection) -> None:
    row = await db.fetchrow(
        """SELECT sa.code, sa.name, sa.planned_amount, o.code AS opd_code
           FROM sub_activity sa JOIN region r ON r.id = sa.region_id JOIN opd o ON o.id = sa.opd_id
           WHERE r.code = '53.01' ORDER BY sa.id LIMIT 1"""
    )
    data = await api.data(
        """query($code: String!) {
             subActivity(regionCode: "53.01", fiscalYear: 2025, code: $code) {
               code name fiscalYear plannedAmount opd { code }
               activity { code program { code } }
               provenance { sourceKey stale source { id kind status } }
             }
             other: subActivity(regionCode: "53.01", fiscalYear: 2024, code: $code) { code }
           }""",
        {"code": row["code"]},
    )
    sa = data["subActivity"]
    assert sa["code"] == row["code"]
    assert sa["name"] == row["name"]
    assert Decimal(sa["plannedAmount"]) == row["planned_amount"]
    assert sa["plannedAmount"].endswith(".00")  # money is a decimal string, never a float
    assert sa["opd"]["code"] == row["opd_code"]
    assert row["code"].startswith(sa["activity"]["code"] + ".")
    assert sa["activity"]["code"].startswith(sa["activity"]["program"]["code"] + ".")
    assert sa["provenance"]["source"] == {
        "id": "bappeda-eplanning",
        "kind": "postgresql",
        "status": "OK",
    }
    assert sa["provenance"]["sourceKey"] == f"53.01/2025/{row['code']}"
    assert sa["provenance"]["stale"] is False
    assert data["other"] is None


async def test_sub_activity_budget_matches_dpa_and_sp2d(api: Api, db: asyncpg.Connection) -> None:
    sa_id, code = await db.fetchrow(
        """SELECT sa.id, sa.code FROM sub_activity sa JOIN region r ON r.id = sa.region_id
           WHERE r.code = '53' AND EXISTS (SELECT 1 FROM payment p WHERE p.sub_activity_id = sa.id)
           ORDER BY sa.id LIMIT 1"""
    )
    allocated = await db.fetchval(
        "SELECT sum(amount) FROM budget_line WHERE sub_activity_id = $1", sa_id
    )
    paid = await db.fetchval("SELECT sum(amount) FROM payment WHERE sub_activity_id = $1", sa_id)
    lines = await db.fetch(
        "SELECT account_code, amount FROM budget_line WHERE sub_activity_id = $1 "
        "ORDER BY account_code",
        sa_id,
    )
    data = await api.data(
        """query($code: String!) { subActivity(regionCode: "53", fiscalYear: 2025, code: $code) {
             budget { allocated paid lines { accountCode amount provenance { source { id } } }
                      payments { sp2dNumber paidOn amount accountCode payee { name } } } } }""",
        {"code": code},
    )
    budget = data["subActivity"]["budget"]
    assert Decimal(budget["allocated"]) == allocated
    assert Decimal(budget["paid"]) == paid
    assert [(line["accountCode"], Decimal(line["amount"])) for line in budget["lines"]] == [
        (r["account_code"], r["amount"]) for r in lines
    ]
    assert {line["provenance"]["source"]["id"] for line in budget["lines"]} == {"bpkad-keuangan"}
    assert sum(Decimal(p["amount"]) for p in budget["payments"]) == paid
    dates = [p["paidOn"] for p in budget["payments"]]
    assert dates == sorted(dates)


async def test_procurement_chain_from_package_to_contract(api: Api, db: asyncpg.Connection) -> None:
    row = await db.fetchrow(
        """SELECT pp.rup_code, t.code AS tender_code, c.number, c.value, t.owner_estimate,
                  (SELECT count(*) FROM bid b WHERE b.tender_id = t.id) AS bids
           FROM contract c JOIN tender t ON t.id = c.tender_id
           JOIN tender_package tp ON tp.tender_id = t.id
           JOIN procurement_package pp ON pp.id = tp.package_id
           ORDER BY c.id LIMIT 1"""
    )
    data = await api.data(
        """query($rup: String!, $tender: String!) {
             procurementPackage(rupCode: $rup) {
               rupCode method ceiling subActivity { code }
               tenders { code ownerEstimate status version
                         bids { amount correctedAmount isWinner vendor { name taxId } }
                         winner { name } packages { rupCode }
                         contract { number value vendor { name } amendments { version }
                                    payments { amount } } } }
             tender(code: $tender) { code }
             noPackage: procurementPackage(rupCode: "0") { rupCode }
             noTender: tender(code: "0") { code }
           }""",
        {"rup": row["rup_code"], "tender": row["tender_code"]},
    )
    package = data["procurementPackage"]
    assert package["rupCode"] == row["rup_code"]
    assert package["subActivity"] is not None
    tender = package["tenders"][0]
    assert tender["code"] == row["tender_code"]
    assert Decimal(tender["ownerEstimate"]) == row["owner_estimate"]
    assert len(tender["bids"]) == row["bids"]
    winners = [b for b in tender["bids"] if b["isWinner"]]
    assert len(winners) == 1
    assert winners[0]["vendor"]["name"] == tender["winner"]["name"]
    assert tender["contract"]["number"] == row["number"]
    assert Decimal(tender["contract"]["value"]) == row["value"]
    assert tender["contract"]["vendor"]["name"] == tender["winner"]["name"]
    assert row["rup_code"] in [p["rupCode"] for p in tender["packages"]]
    assert data["tender"] == {"code": row["tender_code"]}
    assert data["noPackage"] is None
    assert data["noTender"] is None


async def test_node_fetches_every_node_type_by_global_id(api: Api, db: asyncpg.Connection) -> None:
    ids = {
        "Region": await db.fetchval("SELECT min(id) FROM region"),
        "Opd": await db.fetchval("SELECT min(id) FROM opd"),
        "SubActivity": await db.fetchval("SELECT min(id) FROM sub_activity"),
        "ProcurementPackage": await db.fetchval("SELECT min(id) FROM procurement_package"),
        "Tender": await db.fetchval("SELECT min(id) FROM tender"),
        "Contract": await db.fetchval("SELECT min(id) FROM contract"),
    }
    for type_name, pk in ids.items():
        gid = global_id(type_name, pk)
        data = await api.data("query($id: ID!) { node(id: $id) { __typename id } }", {"id": gid})
        assert data["node"] == {"__typename": type_name, "id": gid}


async def test_node_of_unknown_row_or_type_is_null(api: Api) -> None:
    data = await api.data(
        "query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } }",
        {"a": global_id("SubActivity", 10**12), "b": global_id("Nope", 1)},
    )
    assert data == {"a": None, "b": None}


async def test_node_with_malformed_id_is_bad_id(api: Api) -> None:
    body = await api.query('{ node(id: "%%%not-an-id") { id } }')
    assert body["data"] == {"node": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_ID"


async def test_an_id_this_api_never_writes_is_bad_id(api: Api) -> None:
    """int() takes "+5", " 5", "0005", "5_0" and other scripts' digits; ids are written
    one way only, so only that way is read."""
    for pk in ("+5", " 5", "05", "5_0", "\u0665", "5 "):
        value = base64.urlsafe_b64encode(f"Region:{pk}".encode()).decode().rstrip("=")
        body = await api.query("query($id: ID!) { node(id: $id) { id } }", {"id": value})
        assert body["errors"][0]["extensions"]["code"] == "BAD_ID", pk


async def test_sources_lists_each_source_with_health(api: Api) -> None:
    data = await api.data(
        "{ sources { id name kind status lastSuccessAt lastError rows owner { code } } }"
    )
    ids = [s["id"] for s in data["sources"]]
    assert ids == sorted(ids)
    assert "bpkad-keuangan" in ids
    assert all(s["status"] == "OK" and s["lastError"] is None for s in data["sources"])


async def test_discrepancies_filter_by_rule_severity_and_open(
    api: Api, db: asyncpg.Connection
) -> None:
    region_id, opd_id, sa_id = await db.fetchrow(
        """SELECT sa.region_id, sa.opd_id, sa.id FROM sub_activity sa
           JOIN region r ON r.id = sa.region_id WHERE r.code = '53.71' ORDER BY sa.id LIMIT 1"""
    )
    await db.execute(
        """INSERT INTO discrepancy (rule, subject_key, severity, message, fiscal_year, region_id,
                                    opd_id, sub_activity_id, evidence, resolved_at)
           VALUES ('CONTRACT_ABOVE_OWNER_ESTIMATE', 'test:1', 'CRITICAL',
                   'Nilai kontrak melebihi HPS.', 2025,
                   $1, $2, $3,
                   '[{"entity": "Contract", "entityId": "x", "field": "value", "value": "10"}]',
                   NULL),
                  ('SINGLE_BIDDER', 'test:2', 'WARNING', 'Penawar tunggal.', 2025, $1, $2, $3,
                   '[]', now())""",
        region_id,
        opd_id,
        sa_id,
    )
    try:
        data = await api.data(
            """{ open: discrepancies(filter: {regionCode: "53", open: true}) {
                   totalCount edges { node { rule severity message fiscalYear region { code }
                     opd { code } subActivity { id } evidence { entity entityId field value } } } }
                 resolved: discrepancies(filter: {open: false, severity: WARNING}) {
                   totalCount edges { node { rule resolvedAt } } }
                 none: discrepancies(filter: {rule: "CONTRACT_ABOVE_OWNER_ESTIMATE",
                                              fiscalYear: 2024}) { totalCount }
                 summary: region(code: "53.71") { summary(fiscalYear: 2025) { openDiscrepancies } }
               }"""
        )
        assert data["open"]["totalCount"] == 1
        node = data["open"]["edges"][0]["node"]
        assert node["rule"] == "CONTRACT_ABOVE_OWNER_ESTIMATE"
        assert node["severity"] == "CRITICAL"
        assert node["region"] == {"code": "53.71"}
        assert node["evidence"] == [
            {"entity": "Contract", "entityId": "x", "field": "value", "value": "10"}
        ]
        assert node["subActivity"]["id"] == global_id("SubActivity", sa_id)
        assert data["resolved"]["totalCount"] == 1
        assert data["resolved"]["edges"][0]["node"]["resolvedAt"] is not None
        assert data["none"]["totalCount"] == 0
        unknown = await api.query(
            '{ discrepancies(filter: {rule: "NO_SUCH_RULE"}) { totalCount } }'
        )
        assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "SINGLE_BIDDER" in unknown["errors"][0]["message"]  # it names the valid ones
        assert data["summary"]["summary"]["openDiscrepancies"] == 1
        has = await api.data(
            """{ subActivities(filter: {fiscalYear: 2025, hasDiscrepancies: true}) {
                   totalCount edges { node { discrepancies { rule } } } } }"""
        )
        assert has["subActivities"]["totalCount"] == 1
        rules = {d["rule"] for d in has["subActivities"]["edges"][0]["node"]["discrepancies"]}
        assert rules == {"CONTRACT_ABOVE_OWNER_ESTIMATE", "SINGLE_BIDDER"}
    finally:
        await db.execute("DELETE FROM discrepancy WHERE subject_key LIKE 'test:%'")
