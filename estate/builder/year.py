"""One Pemda's fiscal year while it is built: the state every step shares, the ids, and the
order of the steps (which is the order of the draws from the year's random generator)."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from estate import names, rules
from estate.builder.budget import budget
from estate.builder.packages import histories, packages
from estate.builder.payments import contract_roles, handovers, payee_not_winner, payments
from estate.builder.plan import indicators, plan_rows, special_sub_activities
from estate.builder.progress import missing_reports, progress
from estate.builder.tenders import tenders, work_orders
from estate.model import EstateContract, EstateSubActivity, RegionYear, as_of

if TYPE_CHECKING:
    from estate.builder.region import RegionBuilder


class YearBuilder:
    """What the steps of one Pemda's fiscal year share: its random generator, the rows so far
    (`ry`), seeds per rule (`k`), id sequences and lookups."""

    def __init__(self, region: RegionBuilder, fy: int, cutoff: date, closed: bool) -> None:
        self.r = region
        self.fy = fy
        self.cutoff = cutoff
        self.closed = closed
        self.rng = random.Random(f"{region.seed}/{region.region}/{fy}")
        self.ry = RegionYear(region.region, fy, cutoff, as_of(region.fiscal_years))
        lo, hi = region.plan.seeds
        self.k = {
            code: self.rng.randint(lo, hi)
            for code in rules.RULES
            if code not in rules.DERIVED_SEEDS | rules.OWN_DRAW_SEEDS
        }
        if not closed:
            self.k["INDICATOR_BELOW_TARGET"] = 0  # no realisation before year end
        year_index = sorted(region.fiscal_years).index(fy)
        self.rup_seq = (
            20_000_000
            + names.REGION_INDEX[region.region] * 3_000_000
            + year_index * 600_000
            + self.rng.randint(1, 999)
        )
        self.tender_seq = 1000 + year_index * 50_000 + self.rng.randint(0, 99)
        self.contract_seq = 0
        self.opd_by_code = {o.code: o for o in region.opds}
        self.sa_by_code: dict[str, EstateSubActivity] = {}
        self.special_sas: set[str] = set()  # progress decided by a seed
        self.latest: dict[str, Decimal] = {}
        self.used_ids = region.used_ids  # SIPD ids are unique across years
        self.procured_lines: set[tuple[str, str]] = set()
        self.contract_role: dict[str, str] = {}
        self.payee_pool: list[EstateContract] = []  # single-package contracts no other seed took

    def own_rng(self, code: str) -> random.Random:
        """The generator of a rule seeded apart from the year's (rules.OWN_DRAW_SEEDS)."""
        return random.Random(f"{self.r.seed}/{self.r.region}/{self.fy}/{code}")

    # --- ids ---------------------------------------------------------------------------

    def next_rup(self) -> int:
        self.rup_seq += self.rng.randint(1, 7)
        return self.rup_seq

    def next_tender(self) -> int:
        self.tender_seq += self.rng.randint(1, 5)
        index = names.REGION_INDEX[self.r.region]
        if self.closed:  # an older local code: a sequence ending with the LPSE's code
            return int(f"{self.tender_seq}{115 + index:03d}")
        return int(f"1{index:02d}{self.fy % 100:02d}{self.tender_seq:06d}")  # national

    def unique_id(self, low: int, high: int) -> int:
        """An internal id (SIPD's id_program, id_giat, id_sub_giat), new every year."""
        value = self.rng.randint(low, high)
        while value in self.used_ids:
            value = self.rng.randint(low, high)
        self.used_ids.add(value)
        return value

    def seed(self, code: str, key: str) -> None:
        self.ry.seed(code, key)

    def sa_key(self, code: str) -> str:
        return f"{self.r.region}/{self.fy}/{code}"

    # --- the year ----------------------------------------------------------------------

    def build(self) -> RegionYear:
        plan_rows(self)
        packages(self)
        budget(self)
        special_sub_activities(self)
        tenders(self)
        contract_roles(self)
        progress(self)
        payments(self)
        payee_not_winner(self)
        indicators(self)
        histories(self)
        # Each from a generator of its own (rules.OWN_DRAW_SEEDS), after the rest.
        work_orders(self)
        handovers(self)
        missing_reports(self)
        return self.ry
