"""How big a Pemda's estate is (`RegionPlan`), and the Pemda itself (`RegionBuilder`): its OPD,
vendors and sub kegiatan catalogue, shared by its fiscal years, each built and checked."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from estate import names, nomenclature, rules
from estate.builder.year import YearBuilder
from estate.model import EstateOpd, EstateVendor, RegionYear, as_of


@dataclass(frozen=True)
class RegionPlan:
    """How big one Pemda's estate is, per fiscal year."""

    region: str
    sub_activities: int
    opds: int
    rup_per_sa: float
    seeds: tuple[int, int]  # rows per rule per fiscal year: randint(lo, hi)
    clean_tenders: int  # at least this many clean full tenders per fiscal year
    indicators: tuple[int, int] = (1, 2)  # per sub kegiatan: randint(lo, hi)


class CatalogueEntry:
    __slots__ = ("activity", "activity_name", "code", "name", "opd", "program", "program_name")

    def __init__(
        self,
        opd: int,
        program: str,
        program_name: str,
        activity: str,
        activity_name: str,
        code: str,
        name: str,
    ) -> None:
        self.opd = opd
        self.program = program
        self.program_name = program_name
        self.activity = activity
        self.activity_name = activity_name
        self.code = code
        self.name = name


class RegionBuilder:
    """One Pemda: its OPDs, vendors and sub-activity catalogue, shared by all years."""

    def __init__(self, plan: RegionPlan, seed: int, fiscal_years: tuple[int, ...]) -> None:
        self.plan = plan
        self.seed = seed
        self.fiscal_years = fiscal_years
        self.region = plan.region
        self.level_digit = 1 if names.REGION_LEVELS[plan.region] == "PROVINCE" else 2
        rng = random.Random(f"{seed}/{plan.region}/catalogue")
        kinds = names.OPDS[: plan.opds]
        self.opds = [
            EstateOpd(k.code, k.name, k.short, 1000 + i * 7 + rng.randint(0, 6))
            for i, k in enumerate(kinds)
        ]
        self.vendors = self._vendors(rng, max(40, plan.sub_activities // 3))
        self.catalogue = self._catalogue(rng, kinds)
        self.used_ids: set[int] = set()

    def _vendors(self, rng: random.Random, count: int) -> list[EstateVendor]:
        base = 100_000 + names.REGION_INDEX[self.region] * 100_000
        vendors: list[EstateVendor] = []
        seen: set[str] = set()
        for i in range(count):
            words = " ".join(rng.sample(names.VENDOR_WORDS, 2))
            npwp = f"{rng.randrange(10**14, 10**15)}"
            while npwp in seen:
                npwp = f"{rng.randrange(10**14, 10**15)}"
            seen.add(npwp)
            vendors.append(
                EstateVendor(base + i, f"{rng.choice(names.VENDOR_PREFIX)} {words}", npwp)
            )
        return vendors

    def _catalogue(self, rng: random.Random, kinds: list[names.OpdKind]) -> list[CatalogueEntry]:
        """Sub kegiatan of the real nomenclature (estate/nomenclature.py), per OPD from its
        bidang urusan: a fifth from its Program Penunjang, runs of one to eight sub kegiatan
        of one kegiatan at a time. OPD of one bidang share its codes (a code belongs to one
        OPD); an OPD whose bidang runs out passes the rest of its share on to the next."""
        total = round(self.plan.sub_activities * 1.06)
        weight = sum(k.weight for k in kinds)
        pools: dict[str, dict[str, list[nomenclature.Entry]]] = {}
        for bidang, found in nomenclature.entries_by_bidang().items():
            by_activity: dict[str, list[nomenclature.Entry]] = defaultdict(list)
            for entry in found:
                by_activity[entry.activity].append(entry)
            pools[bidang] = by_activity
        entries: list[CatalogueEntry] = []
        carried = 0
        for index, kind in enumerate(kinds):
            share = max(3, round(total * kind.weight / weight)) + carried
            pool = pools.get(kind.bidang, {})
            made = 0
            while made < share and pool:
                support = [a for a in pool if a.split(".")[2] == "01"]
                others = [a for a in pool if a.split(".")[2] != "01"]
                group = support if (rng.random() < 0.2 and support) or not others else others
                activity = group[rng.randrange(len(group))]
                run = pool[activity][: rng.randint(1, 8)]
                del pool[activity][: len(run)]
                if not pool[activity]:
                    del pool[activity]
                for entry in run[: share - made]:
                    if self.level_digit == 1:
                        entry = entry.provincial()
                    entries.append(
                        CatalogueEntry(
                            index,
                            entry.program,
                            entry.program_name,
                            entry.activity,
                            entry.activity_name,
                            entry.code,
                            entry.name,
                        )
                    )
                    made += 1
            carried = share - made
        return entries

    def build(self) -> list[RegionYear]:
        years: list[RegionYear] = []
        last = max(self.fiscal_years)
        day = as_of(self.fiscal_years)
        for fy in self.fiscal_years:
            closed = fy < last
            cutoff = date(fy, 12, 31) if closed else day
            ry = YearBuilder(self, fy, cutoff, closed).build()
            found = rules.detect(ry)
            expected = {code: sorted(ry.seeded.get(code, [])) for code in rules.RULES}
            if found != expected:
                diff = {
                    code: (found[code], expected[code])
                    for code in rules.RULES
                    if found[code] != expected[code]
                }
                raise RuntimeError(f"estate {self.region}/{fy}: findings differ from seeds: {diff}")
            years.append(ry)
        return years
