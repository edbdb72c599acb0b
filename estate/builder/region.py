"""How big a Pemda's estate is (`RegionPlan`), and the Pemda itself (`RegionBuilder`): its OPD,
vendors and sub kegiatan catalogue, shared by its fiscal years, each built and checked."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from estate import names, rules
from estate.builder.year import YearBuilder
from estate.model import EstateOpd, EstateVendor, RegionYear


@dataclass(frozen=True)
class RegionPlan:
    """How big one Pemda's estate is, per fiscal year."""

    region: str
    sub_activities: int
    opds: int
    rup_per_sa: float
    seeds: tuple[int, int]  # rows per rule per fiscal year: randint(lo, hi)
    clean_tenders: int  # at least this many clean full tenders per fiscal year


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
        total = round(self.plan.sub_activities * 1.06)
        weight = sum(k.weight for k in kinds)
        next_program: dict[str, int] = defaultdict(lambda: 2)
        next_activity: dict[str, int] = defaultdict(lambda: 1)
        entries: list[CatalogueEntry] = []
        for index, kind in enumerate(kinds):
            share = max(3, round(total * kind.weight / weight))
            programs = [(f"{kind.bidang}.01", names.PROGRAM_SUPPORT)]
            for program_name in names.PROGRAMS.get(kind.bidang, ["Program Urusan Daerah"]):
                number = next_program[kind.bidang]
                next_program[kind.bidang] += 1
                programs.append((f"{kind.bidang}.{number:02d}", program_name))
            made = 0
            while made < share:
                support = rng.random() < 0.2
                program, program_name = programs[0] if support else rng.choice(programs[1:])
                kk = next_activity[program]
                if kk > 99:
                    program, program_name = programs[0]
                    kk = next_activity[program]
                    if kk > 99:
                        break
                next_activity[program] += 1
                activity = f"{program}.{self.level_digit}.{kk:02d}"
                if program.endswith(".01"):
                    activity_name = names.SUPPORT_ACTIVITIES[(kk - 1) % 6]
                else:
                    activity_name = (
                        f"{rng.choice(names.ACTIVITY_WORDS)} {rng.choice(names.OBJECTS)}"
                    )
                start = rng.randint(1, 30)
                for seq in range(start, start + rng.randint(1, 8)):
                    if made >= share:
                        break
                    name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
                    entries.append(
                        CatalogueEntry(
                            index,
                            program,
                            program_name,
                            activity,
                            activity_name,
                            f"{activity}.{seq:04d}",
                            name,
                        )
                    )
                    made += 1
        return entries

    def build(self) -> list[RegionYear]:
        years: list[RegionYear] = []
        last = max(self.fiscal_years)
        for fy in self.fiscal_years:
            closed = fy < last
            cutoff = date(fy, 12, 31) if closed else date(fy, 11, 28)
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
