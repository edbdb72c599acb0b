"""The procurement chain of a Pemda and fiscal year as OCDS 1.1 release and record packages.

One contracting process per RUP package (`ocid` = `RANTAI_OCID_PREFIX` + "-" + kode RUP):
- planning: the package (pagu, MAK rows) and the DPA of its sub kegiatan;
- tender: the SPSE tender with its HPS as value, the method as OCDS's procurementMethod
  with SPSE's own name kept in procurementMethodDetails, tenderers (bids submitted), the
  period from announcement to the close of "Upload Dokumen Penawaran"; bids in the bid
  extension (valid: with a corrected price; disqualified: without);
- awards (the winner) and contracts (eKontrak), with addenda as amendments;
- contracts' implementation.transactions: SP2D payments, which only viewers allowed to see
  payments get (GraphQL gives the others none).

A tender covering several RUP packages belongs to the process of its lowest kode RUP (the
hub counts a contract against exactly one package, decision 5); the others name it in
`relatedProcesses`. A tender without a RUP package has no ocid and is not published (it is
what TENDER_WITHOUT_RUP flags).

Releases are dated and idempotent: a release's `date` is the latest time the hub recorded
any of its rows (`provenance.syncedAt`), its `id` the ocid and a digest of its content, and
a package's `publishedDate` the latest of its releases' dates: the same data gives the same
bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from hub.auth import Viewer
from hub.reference.clock import province_offset
from hub.serving.opendata.pages import pages, query
from hub.serving.request import Api

VERSION = "1.1"
BID_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/"
    "v1.1.5/extension.json"
)
CURRENCY = "IDR"
OFFSET = province_offset()  # dates become midnight in the province's time
PAGE = 100

# SPSE's methods as OCDS procurementMethod codes; the name stays in the details.
METHODS = {
    "Tender": "open",
    "Tender Cepat": "open",
    "Seleksi": "selective",
    "Penunjukan Langsung": "limited",
    "Pengadaan Langsung": "direct",
    "E-Purchasing": "direct",
    "Dikecualikan": "direct",
}
PRICE_ONLY = {"Tender", "Tender Cepat"}  # Seleksi weighs quality
CATEGORIES = {
    "Barang": "goods",
    "Pekerjaan Konstruksi": "works",
    "Jasa Konsultansi": "services",
    "Jasa Lainnya": "services",
}
TENDER_STATUS = {"Selesai": "complete", "Berlangsung": "active", "Gagal": "unsuccessful"}
BID_CLOSES = "Upload Dokumen Penawaran"

PACKAGES = """
query OcdsPackages($filter: ProcurementPackageFilter!, $first: Int, $after: String) {
  procurementPackages(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id rupCode name method category ceiling fundingSource fiscalYear announcedOn
      provenance { syncedAt }
      region { code name }
      opd { code name }
      budgetRows { mak subActivityCode accountCode amount }
      subActivity {
        code name
        provenance { syncedAt }
        budget { allocated lines { accountCode accountName amount } }
      }
      tenders {
        id code name method ownerEstimate status version announcedOn
        provenance { syncedAt }
        packages { rupCode }
        schedule { stage startsOn endsOn }
        bids { id amount correctedAmount isWinner vendor { id name taxId } }
        contract {
          id number signedOn value startsOn endsOn
          provenance { syncedAt }
          vendor { id name taxId }
          amendments { version value reason signedOn }
          payments {
            id sp2dNumber paidOn amount accountCode
            provenance { syncedAt }
            payee { id name taxId }
          }
        }
      }
    } }
  }
}
"""

REGION = "query OcdsRegion($code: String!) { region(code: $code) { code name } }"


def ocid(prefix: str, rup_code: str) -> str:
    return f"{prefix}-{rup_code}"


def _when(day: str | None) -> str | None:
    return f"{day}T00:00:00{OFFSET}" if day else None


def _value(amount: Any) -> dict[str, Any] | None:
    if amount is None:
        return None
    number = Decimal(str(amount))
    return {"amount": int(number) if number == number.to_integral() else float(number),
            "currency": CURRENCY}  # fmt: skip


def _lowest(codes: Iterable[str]) -> str:
    return min(codes, key=lambda c: (len(c), c))


class _Parties:
    """The release's organisations, each once, with all its roles."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}

    def add(self, party_id: str, name: str, role: str, tax_id: str | None = None) -> dict[str, str]:
        party = self.by_id.get(party_id)
        if party is None:
            party = self.by_id[party_id] = {"id": party_id, "name": name, "roles": []}
            if tax_id:
                party["identifier"] = {"scheme": "ID-NPWP", "id": tax_id, "legalName": name}
        if role not in party["roles"]:
            party["roles"].append(role)
        return {"id": party_id, "name": name}

    def vendor(self, vendor: dict[str, Any], role: str) -> dict[str, str]:
        return self.add(vendor["id"], vendor["name"], role, vendor.get("taxId"))


def release(prefix: str, package: dict[str, Any]) -> dict[str, Any]:
    """The release of one RUP package (a node of the PACKAGES document)."""
    rup = package["rupCode"]
    parties = _Parties()
    region, opd = package["region"], package.get("opd")
    buyer = (
        parties.add(f"{region['code']}/{opd['code']}", opd["name"], "buyer")
        if opd is not None
        else parties.add(region["code"], region["name"], "buyer")
    )
    parties.add(buyer["id"], buyer["name"], "procuringEntity")
    out: dict[str, Any] = {
        "ocid": ocid(prefix, rup),
        "initiationType": "tender",
        "language": "id",
        "buyer": buyer,
        "planning": _planning(package),
    }
    stamps = [package["provenance"]["syncedAt"]]
    sub = package.get("subActivity")
    if sub is not None:
        stamps.append(sub["provenance"]["syncedAt"])
    tags = ["planning"]
    own = [t for t in package["tenders"] if _lowest(p["rupCode"] for p in t["packages"]) == rup]
    shared = [t for t in package["tenders"] if t not in own]
    if own:
        tender = own[-1]  # the latest version: a re-tender replaces the failed one
        stamps.append(tender["provenance"]["syncedAt"])
        out["tender"] = _tender(tender, package, parties, buyer)
        tags.append("tender")
        bids = [b for b in tender["bids"] if b["amount"] is not None]
        if bids:
            out["bids"] = {"details": [_bid(b, tender, parties) for b in bids]}
        winners = [b for b in tender["bids"] if b["isWinner"]]
        contract = tender.get("contract")
        if winners or contract is not None:
            out["awards"] = [_award(tender, winners, contract, parties)]
            tags.append("award")
        if contract is not None:
            c, c_stamps = _contract(tender, contract, parties, buyer)
            out["contracts"] = [c]
            stamps += c_stamps
            tags.append("contract")
            if c.get("implementation"):
                tags.append("implementation")
    if shared:
        out["relatedProcesses"] = [
            {
                "id": t["code"],
                "relationship": ["parent"],
                "title": f"Tender {t['code']} bersama paket RUP lain",
                "scheme": "ocid",
                "identifier": ocid(prefix, _lowest(p["rupCode"] for p in t["packages"])),
            }
            for t in shared
        ]
    out["parties"] = list(parties.by_id.values())
    out["tag"] = tags
    content = orjson.dumps(out, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(content).hexdigest()[:16]
    return {"id": f"{out['ocid']}-{digest}", "date": max(stamps), **out}


def _planning(package: dict[str, Any]) -> dict[str, Any]:
    sub = package.get("subActivity")
    rows = package["budgetRows"]
    budget: dict[str, Any] = {
        "id": ",".join(r["mak"] for r in rows) or package["rupCode"],
        "description": f"Pagu paket RUP {package['rupCode']} "
        f"({package.get('fundingSource') or 'APBD'})"
        + "".join(f"; MAK {r['mak']}: Rp {r['amount']}" for r in rows),
        "amount": _value(package["ceiling"]),
    }
    if sub is not None:
        budget["project"] = sub["name"]
        budget["projectID"] = sub["code"]
        lines = sub["budget"]["lines"]
        budget["description"] += (
            f"; DPA sub kegiatan {sub['code']}: Rp {sub['budget']['allocated']}"
        )
        budget["description"] += "".join(
            f"; {line['accountCode']} {line.get('accountName') or ''}: Rp {line['amount']}"
            for line in lines
        )
    planning: dict[str, Any] = {"budget": budget}
    if package.get("announcedOn"):
        planning["milestones"] = [
            {
                "id": f"{package['rupCode']}-rup",
                "title": "Pengumuman RUP (SiRUP)",
                "type": "engagement",
                "dateMet": _when(package["announcedOn"]),
                "status": "met",
            }
        ]
    return planning


def _tender(
    tender: dict[str, Any], package: dict[str, Any], parties: _Parties, buyer: dict[str, str]
) -> dict[str, Any]:
    method = tender["method"]
    submitted = [b for b in tender["bids"] if b["amount"] is not None]
    tenderers = [parties.vendor(b["vendor"], "tenderer") for b in submitted]
    out: dict[str, Any] = {
        "id": tender["code"],
        "title": tender["name"],
        "status": TENDER_STATUS.get(tender["status"], "cancelled"),
        "procuringEntity": buyer,
        "value": _value(tender["ownerEstimate"]),
        "procurementMethod": METHODS.get(method, "direct"),
        "procurementMethodDetails": method,
        "awardCriteria": "priceOnly" if method in PRICE_ONLY else "ratedCriteria",
        "awardCriteriaDetails": "Evaluasi harga" if method in PRICE_ONLY else "Evaluasi kualitas",
        "tenderers": tenderers,
        "numberOfTenderers": len(tenderers),
    }
    category = CATEGORIES.get(package.get("category") or "")
    if category is not None:
        out["mainProcurementCategory"] = category
    if package.get("category") == "Jasa Konsultansi":
        out["additionalProcurementCategories"] = ["consultingServices"]
    closes = [s["endsOn"] for s in tender["schedule"] if s["stage"] == BID_CLOSES and s["endsOn"]]
    if tender["announcedOn"]:
        period = {"startDate": _when(tender["announcedOn"])}
        if closes:
            period["endDate"] = _when(min(closes))
        out["tenderPeriod"] = period
    out["milestones"] = [
        {
            "id": f"{tender['code']}-{i}",
            "title": stage["stage"],
            "type": "timeline",
            "dueDate": _when(stage["endsOn"] or stage["startsOn"]),
        }
        for i, stage in enumerate(tender["schedule"], 1)
        if stage["endsOn"] or stage["startsOn"]
    ]
    if not out["milestones"]:
        del out["milestones"]
    return {k: v for k, v in out.items() if v is not None}


def _bid(bid: dict[str, Any], tender: dict[str, Any], parties: _Parties) -> dict[str, Any]:
    valid = bid["correctedAmount"] is not None
    return {
        "id": bid["id"],
        "status": "valid" if valid else "disqualified",
        "tenderers": [parties.vendor(bid["vendor"], "tenderer")],
        "value": _value(bid["correctedAmount"] if valid else bid["amount"]),
    }


def _award(
    tender: dict[str, Any],
    winners: list[dict[str, Any]],
    contract: dict[str, Any] | None,
    parties: _Parties,
) -> dict[str, Any]:
    suppliers = [parties.vendor(b["vendor"], "supplier") for b in winners]
    if not suppliers and contract is not None and contract.get("vendor"):
        suppliers = [parties.vendor(contract["vendor"], "supplier")]
    amount = winners[0]["correctedAmount"] if winners else None
    if amount is None and contract is not None:
        amount = contract["value"]
    award: dict[str, Any] = {
        "id": f"{tender['code']}-pemenang",
        "title": f"Pemenang {tender['name']}",
        "status": "active",
        "suppliers": suppliers,
        "value": _value(amount),
    }
    if contract is not None and contract.get("signedOn"):
        award["date"] = _when(contract["signedOn"])
    return {k: v for k, v in award.items() if v is not None}


def _contract(
    tender: dict[str, Any], contract: dict[str, Any], parties: _Parties, buyer: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    stamps = [contract["provenance"]["syncedAt"]]
    out: dict[str, Any] = {
        "id": contract["number"],
        "awardID": f"{tender['code']}-pemenang",
        "title": tender["name"],
        "status": "active",
        "value": _value(contract["value"]),
        "dateSigned": _when(contract.get("signedOn")),
    }
    if contract.get("startsOn") or contract.get("endsOn"):
        period = {
            "startDate": _when(contract.get("startsOn")),
            "endDate": _when(contract.get("endsOn")),
        }
        out["period"] = {k: v for k, v in period.items() if v}
    if contract["amendments"]:
        out["amendments"] = [
            {
                "id": f"{contract['number']}-addendum-{a['version']}",
                "date": _when(a.get("signedOn")),
                "rationale": a.get("reason") or f"Addendum {a['version']}",
                "description": f"Addendum {a['version']}: nilai kontrak menjadi Rp {a['value']}",
            }
            for a in contract["amendments"]
        ]
    payments = contract["payments"]
    if payments:
        payer = parties.add(buyer["id"], buyer["name"], "payer")
        transactions = []
        for pay in payments:
            stamps.append(pay["provenance"]["syncedAt"])
            transaction: dict[str, Any] = {
                "id": pay["sp2dNumber"],
                "date": _when(pay["paidOn"]),
                "value": _value(pay["amount"]),
                "payer": payer,
            }
            if pay.get("payee"):
                transaction["payee"] = parties.vendor(pay["payee"], "payee")
            transactions.append(transaction)
        out["implementation"] = {"transactions": transactions}
    return {k: v for k, v in out.items() if v is not None}, stamps


async def releases(
    api: Api, viewer: Viewer, prefix: str, region_code: str, fiscal_year: int, *, client: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The Pemda (None when the viewer cannot see it) and the releases of its RUP packages
    of the year, in package order."""
    found = await query(api, viewer, REGION, {"code": region_code}, client=client)
    region = found.get("region")
    if region is None:
        return None, []
    variables = {"filter": {"fiscalYear": fiscal_year, "regionCode": region_code}, "first": PAGE}
    out: list[dict[str, Any]] = []
    async for nodes, _ in pages(
        api, viewer, PACKAGES, variables, "procurementPackages", client=client
    ):
        out += [release(prefix, node) for node in nodes]
    return region, out


def _publisher(region: dict[str, Any]) -> dict[str, str]:
    return {"name": f"Rantai — {region['name']} ({region['code']})"}


def release_package(
    uri: str, region: dict[str, Any], items: list[dict[str, Any]], *, empty_date: str
) -> dict[str, Any]:
    return {
        "uri": uri,
        "version": VERSION,
        "extensions": [BID_EXTENSION],
        "publishedDate": max((r["date"] for r in items), default=empty_date),
        "publisher": _publisher(region),
        "releases": items,
    }


def record_package(
    uri: str, releases_uri: str, region: dict[str, Any], items: list[dict[str, Any]], *,
    empty_date: str,
) -> dict[str, Any]:  # fmt: skip
    records = []
    for item in items:
        compiled = {**item, "id": item["id"] + "-compiled", "tag": ["compiled"]}
        records.append({"ocid": item["ocid"], "releases": [item], "compiledRelease": compiled})
    return {
        "uri": uri,
        "version": VERSION,
        "extensions": [BID_EXTENSION],
        "publishedDate": max((r["date"] for r in items), default=empty_date),
        "publisher": _publisher(region),
        "packages": [releases_uri],
        "records": records,
    }


def empty_date(fiscal_year: int) -> str:
    """publishedDate of a package with no release: the start of its fiscal year."""
    return datetime.combine(date(fiscal_year, 1, 1), datetime.min.time()).isoformat() + OFFSET
