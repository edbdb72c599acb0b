"""Example documents: GraphiQL opens with them, and tests and benchmarks run them."""

from __future__ import annotations

import orjson

DEEP_CHAIN = """# The whole chain of sub kegiatan, in one request:
# plan (sub kegiatan) → budget (DPA, SP2D) → procurement (RUP, tender, kontrak) → monev.
query DeepChain($fiscalYear: Int!, $regionCode: String, $first: Int = 10) {
  subActivities(filter: {fiscalYear: $fiscalYear, regionCode: $regionCode}, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id code name stage plannedAmount
        opd { code name region { code name } }
        activity { code program { code } }
        indicators { description target }
        budget {
          allocated
          paid
          lines { accountCode amount provenance { sourceKey stale } }
          payments { sp2dNumber paidOn amount payee { name taxId } contract { number } }
        }
        procurementPackages {
          rupCode name method ceiling
          tenders {
            code method ownerEstimate status
            bids { amount isWinner vendor { name } }
            winner { name }
            contract { number value amendments { version value } payments { amount } }
          }
        }
        progressReports { period physicalPercent financialPercent }
        discrepancies { rule }
        provenance { source { id status } }
      }
    }
  }
}
"""

SUMMARY = """# Where is each Pemda along the chain? A province includes its regencies.
query Summary($fiscalYear: Int!) {
  regions {
    code
    name
    level
    summary(fiscalYear: $fiscalYear) {
      subActivities
      plannedAmount
      allocated
      procurementCeiling
      contracted
      paid
      physicalPercent
      openDiscrepancies
    }
  }
}
"""

OPDS = """# OPD of a region, page by page (pass endCursor as `after`).
query Opds($regionCode: String, $after: String) {
  opds(regionCode: $regionCode, first: 20, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { code name region { code } } }
  }
}
"""

SOURCES = """# Legacy sources and how fresh their data is.
query Sources {
  sources { id name kind status lastSyncedAt lastSuccessAt rows }
}
"""


def default_tabs(fiscal_year: int) -> bytes:
    variables = orjson.dumps({"fiscalYear": fiscal_year}, option=orjson.OPT_INDENT_2).decode()
    tabs = [
        {"query": DEEP_CHAIN, "variables": variables},
        {"query": SUMMARY, "variables": variables},
        {"query": OPDS, "variables": '{\n  "regionCode": "53"\n}'},
        {"query": SOURCES},
    ]
    # "<" escaped so that no query text can close the <script> element it sits in.
    return orjson.dumps(tabs).replace(b"<", b"\\u003c")
