"""The ketimpangan rules (DOMAIN.md), each one SQL statement over the canonical store.

Every rule returns its current findings in the Pemda-years given as `$1` (region ids) and
`$2` (fiscal years), pairwise, one row per finding:

    subject_key      what it fired on, stable (the demo manifest's natural keys)
    region_id, fiscal_year, opd_id, sub_activity_id
    evidence         jsonb list of {entity, id, field, value}: the rows that prove it
    message          one Indonesian sentence a governor's staff can read

Thresholds come from `Thresholds` and are numbers or method names, written into the SQL as
literals (they are validated when loaded, never user input at query time).

The statements live in one module per group of families: `budget` (1, 2), `tenders` (3, 4,
6, 7, 8), `bids` (7: bid prices against each other), `contracts` (5, 10, 11, and 8's SPMK
before the signing), `packages`
(9, 13), `execution` (12), `nomenclature` (14: codes against the reference data); `sql`
holds the pieces they share. This module declares each rule once, with its code, severity,
the changes it depends on, and its place in the open vocabulary: the indicator codes of
OCP's red-flag guide as cardinal numbers them (`indicators`), or why none matches
(`no_indicator`). A rule that compares with the reference day (a deadline, a grace after an
end date) is `dated`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.discrepancies.rules.bids import (
    excessive_unsuccessful_bids,
    heavily_discounted_bid,
    winner_close_to_second,
)
from hub.discrepancies.rules.budget import (
    budget_without_plan,
    plan_without_budget,
    rup_above_dpa,
    rup_without_dpa,
)
from hub.discrepancies.rules.contracts import (
    amendment_above_limit,
    contract_above_owner_estimate,
    contract_near_owner_estimate,
    handover_without_letter,
    paid_ahead_of_progress,
    payee_not_winner,
    payment_before_handover,
    work_started_before_contract,
)
from hub.discrepancies.rules.execution import (
    indicator_below_target,
    monev_report_late,
    not_procured_by_q3,
    progress_behind_schedule,
)
from hub.discrepancies.rules.nomenclature import code_not_in_nomenclature
from hub.discrepancies.rules.packages import published_value_changed, split_procurement
from hub.discrepancies.rules.sql import PARTS
from hub.discrepancies.rules.tenders import (
    identical_bids,
    method_deviation,
    retender,
    short_bid_window,
    single_bidder,
    slow_award,
    tender_before_rup,
    tender_without_rup,
    winner_not_lowest,
)
from hub.discrepancies.thresholds import Thresholds


@dataclass(frozen=True)
class Rule:
    code: str
    family: int
    severity: str  # INFO, WARNING, CRITICAL (overridable in Thresholds.severity)
    title: str  # short Indonesian name, for the dashboard
    # GraphQL type names of the changes that can make it fire or stop firing, as the change
    # feed names them: a change of a row with no type of its own (a RUP budget row or
    # version, a tender's packages or schedule) comes as a change of its package or tender.
    depends: frozenset[str]
    sql: Callable[[Thresholds], str]
    # Codes of OCP's red-flag indicators (as cardinal codes them, "R018") that the rule
    # computes on the hub's data; empty with `no_indicator` saying why none matches.
    indicators: tuple[str, ...] = ()
    no_indicator: str = ""
    # Compares with the reference day (`Thresholds.as_of`): run everywhere again when the
    # day moves, since its findings change with no change in the data.
    dated: bool = False

    def statement(self, t: Thresholds) -> str:
        return f"WITH {PARTS}, found AS ({self.sql(t)}) SELECT * FROM found"


PLAN = frozenset({"Region", "Opd", "SubActivity"})
BUDGET = frozenset({"BudgetLine"})
RUP = frozenset({"ProcurementPackage"})
TENDER = frozenset({"Tender", "ProcurementPackage"})
CONTRACT = TENDER | {"Contract", "ContractAmendment"}

# Why a rule has no indicator: cardinal computes none on the same facts.
INDONESIAN_PLAN = (
    "Indonesian planning and budgeting (RKPD/Renja, DPA, SiRUP): no cardinal indicator"
)
HPS = "Indonesian owner's estimate (HPS, Perpres 16/2018): no cardinal indicator"
NO_CARDINAL = "no cardinal indicator"
EXECUTION = "Indonesian budget execution and e-Monev: no cardinal indicator"

RULES: tuple[Rule, ...] = (
    Rule(
        "BUDGET_WITHOUT_PLAN",
        1,
        "WARNING",
        "Anggaran tanpa rencana",
        PLAN | BUDGET,
        budget_without_plan,
        no_indicator=INDONESIAN_PLAN,
    ),
    Rule(
        "PLAN_WITHOUT_BUDGET",
        1,
        "INFO",
        "Rencana tanpa anggaran",
        PLAN | BUDGET,
        plan_without_budget,
        no_indicator=INDONESIAN_PLAN,
    ),
    Rule(
        "RUP_ABOVE_DPA",
        2,
        "CRITICAL",
        "Pagu RUP melebihi DPA",
        RUP | BUDGET | PLAN,
        rup_above_dpa,
        no_indicator=INDONESIAN_PLAN,
    ),
    Rule(
        "RUP_WITHOUT_DPA",
        2,
        "WARNING",
        "RUP tanpa DPA",
        RUP | BUDGET | PLAN,
        rup_without_dpa,
        no_indicator=INDONESIAN_PLAN,
    ),
    Rule(
        "TENDER_WITHOUT_RUP",
        3,
        "CRITICAL",
        "Tender di luar RUP",
        TENDER,
        tender_without_rup,
        no_indicator=INDONESIAN_PLAN,
    ),
    Rule(
        "TENDER_BEFORE_RUP",
        3,
        "WARNING",
        "Tender sebelum RUP",
        TENDER,
        tender_before_rup,
        no_indicator=INDONESIAN_PLAN,
    ),
    Rule(
        "METHOD_DEVIATION",
        4,
        "WARNING",
        "Metode menyimpang",
        TENDER,
        method_deviation,
        no_indicator="the method used against the planned one (SiRUP): " + NO_CARDINAL,
    ),
    Rule(
        "CONTRACT_ABOVE_OWNER_ESTIMATE",
        5,
        "CRITICAL",
        "Kontrak di atas HPS",
        CONTRACT,
        contract_above_owner_estimate,
        no_indicator=HPS,
    ),
    Rule(
        "CONTRACT_NEAR_OWNER_ESTIMATE",
        5,
        "WARNING",
        "Kontrak nyaris sama dengan HPS",
        CONTRACT,
        contract_near_owner_estimate,
        no_indicator=HPS,
    ),
    Rule(
        "SINGLE_BIDDER",
        6,
        "WARNING",
        "Penawar tunggal",
        TENDER | {"Bid"},
        single_bidder,
        indicators=("R018",),
    ),
    Rule(
        "IDENTICAL_BIDS",
        7,
        "CRITICAL",
        "Penawaran identik",
        TENDER | {"Bid", "Vendor"},
        identical_bids,
        indicators=("R028",),
    ),
    Rule(
        "WINNER_NOT_LOWEST",
        7,
        "WARNING",
        "Pemenang bukan penawar terendah",
        TENDER | {"Bid"},
        winner_not_lowest,
        no_indicator="a lower valid bid lost; cardinal's R036 is a lowest bid disqualified",
    ),
    Rule(
        "WINNER_CLOSE_TO_SECOND",
        7,
        "WARNING",
        "Penawaran kedua nyaris sama dengan pemenang",
        TENDER | {"Bid"},
        winner_close_to_second,
        indicators=("R024",),
    ),
    Rule(
        "HEAVILY_DISCOUNTED_BID",
        7,
        "WARNING",
        "Penawaran pemenang jauh di bawah pesaing",
        TENDER | {"Bid"},
        heavily_discounted_bid,
        indicators=("R058",),
    ),
    Rule(
        "EXCESSIVE_UNSUCCESSFUL_BIDS",
        7,
        "INFO",
        "Penyedia sering kalah",
        TENDER | {"Bid", "Vendor"},
        excessive_unsuccessful_bids,
        indicators=("R025",),
    ),
    Rule("RETENDER", 8, "INFO", "Tender ulang", TENDER, retender, no_indicator=NO_CARDINAL),
    Rule(
        "SLOW_AWARD",
        8,
        "WARNING",
        "Penetapan pemenang lambat",
        CONTRACT | {"Letter"},
        slow_award,
        no_indicator="time from announcement to contract: " + NO_CARDINAL,
    ),
    Rule(
        "SHORT_BID_WINDOW",
        8,
        "WARNING",
        "Masa penawaran terlalu singkat",
        TENDER,
        short_bid_window,
        indicators=("R003",),
    ),
    Rule(
        "WORK_STARTED_BEFORE_CONTRACT",
        8,
        "WARNING",
        "Pekerjaan dimulai sebelum kontrak",
        CONTRACT | {"Letter"},
        work_started_before_contract,
        no_indicator="the SPMK letter (E-Surat) against the signing: " + NO_CARDINAL,
    ),
    Rule(
        "SPLIT_PROCUREMENT",
        9,
        "CRITICAL",
        "Pemecahan paket",
        RUP | PLAN,
        split_procurement,
        no_indicator="the Pengadaan Langsung ceiling (Perpres 12/2021): " + NO_CARDINAL,
    ),
    Rule(
        "AMENDMENT_ABOVE_10_PERCENT",
        10,
        "WARNING",
        "Addendum di atas 10%",
        CONTRACT,
        amendment_above_limit,
        no_indicator=NO_CARDINAL,
    ),
    Rule(
        "PAID_AHEAD_OF_PROGRESS",
        11,
        "CRITICAL",
        "Bayar mendahului progres",
        CONTRACT | {"Payment", "ProgressReport"} | PLAN,
        paid_ahead_of_progress,
        no_indicator=EXECUTION,
    ),
    Rule(
        "PAYEE_NOT_WINNER",
        11,
        "CRITICAL",
        "Penerima bukan pemenang",
        CONTRACT | {"Payment", "Vendor"},
        payee_not_winner,
        no_indicator=EXECUTION,
    ),
    Rule(
        "PAYMENT_BEFORE_HANDOVER",
        11,
        "CRITICAL",
        "Lunas sebelum serah terima",
        CONTRACT | {"Payment", "Letter"},
        payment_before_handover,
        no_indicator=EXECUTION,
    ),
    Rule(
        "HANDOVER_WITHOUT_LETTER",
        11,
        "WARNING",
        "Lunas tanpa BAST",
        CONTRACT | {"Payment", "Letter"},
        handover_without_letter,
        no_indicator="the BAST letter (E-Surat) after a contract is paid: " + NO_CARDINAL,
        dated=True,
    ),
    Rule(
        "PUBLISHED_VALUE_CHANGED",
        13,
        "WARNING",
        "Pagu berubah setelah diumumkan",
        RUP,
        published_value_changed,
        no_indicator="SiRUP's package versions: " + NO_CARDINAL,
    ),
    Rule(
        "NOT_PROCURED_BY_Q3",
        12,
        "WARNING",
        "Belum diadakan s.d. triwulan III",
        BUDGET | RUP | PLAN,
        not_procured_by_q3,
        no_indicator=EXECUTION,
        dated=True,
    ),
    Rule(
        "PROGRESS_BEHIND_SCHEDULE",
        12,
        "WARNING",
        "Progres di bawah jadwal",
        PLAN | {"ProgressReport"},
        progress_behind_schedule,
        no_indicator=EXECUTION,
    ),
    Rule(
        "INDICATOR_BELOW_TARGET",
        12,
        "INFO",
        "Indikator jauh di bawah target",
        PLAN | {"Indicator"},
        indicator_below_target,
        no_indicator=EXECUTION,
    ),
    Rule(
        "MONEV_REPORT_LATE",
        12,
        "WARNING",
        "Laporan e-Monev terlambat",
        PLAN | BUDGET | {"ProgressReport"},
        monev_report_late,
        no_indicator=EXECUTION,
        dated=True,
    ),
    Rule(
        "CODE_NOT_IN_NOMENCLATURE",
        14,
        "WARNING",
        "Kode di luar nomenklatur",
        PLAN | {"Program", "Activity"},
        code_not_in_nomenclature,
        no_indicator=INDONESIAN_PLAN,
    ),
)
BY_CODE = {r.code: r for r in RULES}
