"""Build one Pemda's estate for each fiscal year: a clean chain, then seeded discrepancies.

The clean data is built so that no rule of `rules.py` fires on it (contracts 2–12% under HPS,
at least two bids in every tender, payments no faster than progress, …); the seeds then
break exactly one rule each, on rows no other seed touches. `build_region` checks the
result with `rules.detect` and raises if anything but the seeded rows is found.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from estate import names, rules
from estate.model import (
    Activity,
    Amendment,
    Bid,
    BudgetLine,
    Contract,
    Indicator,
    Opd,
    Package,
    Payment,
    Program,
    Progress,
    RegionYear,
    SubActivity,
    Tender,
    Vendor,
)

# (RUP method, weight): most packages are E-Purchasing or Pengadaan Langsung (DOMAIN.md).
METHOD_WEIGHTS = [
    ("E-Purchasing", 240),
    ("Pengadaan Langsung", 60),
    ("Tender", 2),
    ("Seleksi", 1),
    ("Penunjukan Langsung", 1),
    ("Dikecualikan", 60),
]
SPSE_METHODS = ("Tender", "Seleksi", "Penunjukan Langsung", "Pengadaan Langsung")
TENDER_ROLES = (
    "CONTRACT_ABOVE_OWNER_ESTIMATE",
    "CONTRACT_NEAR_OWNER_ESTIMATE",
    "SINGLE_BIDDER",
    "IDENTICAL_BIDS",
    "WINNER_NOT_LOWEST",
    "RETENDER",
    "SLOW_AWARD",
    "SHORT_BID_WINDOW",
    "TENDER_BEFORE_RUP",
)
CONTRACT_ROLES = (
    "PAID_AHEAD_OF_PROGRESS",
    "PAYMENT_BEFORE_HANDOVER",
    "AMENDMENT_ABOVE_10_PERCENT",
    "PAYEE_NOT_WINNER",
)
CONSOLIDATED = "consolidated"  # a clean tender covering two RUP packages (not a rule)
PLN = ("PT. PLN (Persero) UP3 Kupang", "013330836092000")


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


def money(rng: random.Random, low: int, high: int, step: int = 1000) -> int:
    """A log-uniform amount in [low, high], a multiple of `step`."""
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    return max(step, int(value) // step * step)


def day_between(rng: random.Random, first: date, last: date) -> date:
    if last < first:
        return first
    return first + timedelta(days=rng.randint(0, (last - first).days))


def tenths(rng: random.Random, low: float, high: float) -> Decimal:
    """A percentage with one decimal in [low, high]."""
    lo, hi = round(low * 10), round(high * 10)
    return Decimal(rng.randint(lo, max(lo, hi))) / 10


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
            Opd(k.code, k.name, k.short, 1000 + i * 7 + rng.randint(0, 6))
            for i, k in enumerate(kinds)
        ]
        self.vendors = self._vendors(rng, max(40, plan.sub_activities // 3))
        self.catalogue = self._catalogue(rng, kinds)
        self.used_ids: set[int] = set()

    def _vendors(self, rng: random.Random, count: int) -> list[Vendor]:
        base = 100_000 + names.REGION_INDEX[self.region] * 100_000
        vendors: list[Vendor] = []
        seen: set[str] = set()
        for i in range(count):
            words = " ".join(rng.sample(names.VENDOR_WORDS, 2))
            npwp = f"{rng.randrange(10**14, 10**15)}"
            while npwp in seen:
                npwp = f"{rng.randrange(10**14, 10**15)}"
            seen.add(npwp)
            vendors.append(Vendor(base + i, f"{rng.choice(names.VENDOR_PREFIX)} {words}", npwp))
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


class YearBuilder:
    def __init__(self, region: RegionBuilder, fy: int, cutoff: date, closed: bool) -> None:
        self.r = region
        self.fy = fy
        self.cutoff = cutoff
        self.closed = closed
        self.rng = random.Random(f"{region.seed}/{region.region}/{fy}")
        self.ry = RegionYear(region.region, fy, cutoff)
        lo, hi = region.plan.seeds
        self.k = {code: self.rng.randint(lo, hi) for code in rules.RULES}
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
        self.sa_by_code: dict[str, SubActivity] = {}
        self.special_sas: set[str] = set()  # progress decided by a seed
        self.latest: dict[str, Decimal] = {}
        self.used_ids = region.used_ids  # SIPD ids are unique across years
        self.procured_lines: set[tuple[str, str]] = set()
        self.contract_role: dict[str, str] = {}
        self.payee_pool: list[Tender] = []

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
        self.plan_rows()
        self.packages()
        self.budget()
        self.special_sub_activities()
        self.tenders()
        self.contract_roles()
        self.progress()
        self.payments()
        self.payee_not_winner()
        self.indicators()
        self.histories()
        return self.ry

    def plan_rows(self) -> None:
        rng, ry = self.rng, self.ry
        programs: dict[str, Program] = {}
        activities: dict[str, Activity] = {}
        for entry in self.r.catalogue:
            if rng.random() >= 0.94:
                continue
            opd = self.r.opds[entry.opd]
            if entry.program not in programs:
                programs[entry.program] = Program(
                    entry.program, entry.program_name, self.unique_id(10_000, 99_999)
                )
            if entry.activity not in activities:
                activities[entry.activity] = Activity(
                    entry.activity, entry.activity_name, self.unique_id(100_000, 999_999)
                )
            internal = self.unique_id(1_000_000, 9_999_999)
            sa = SubActivity(entry.code, entry.name, opd.code, internal)
            ry.sub_activities.append(sa)
            self.sa_by_code[sa.code] = sa
        ry.opds = list(self.r.opds)
        ry.programs = list(programs.values())
        ry.activities = list(activities.values())

    # --- packages (SiRUP) --------------------------------------------------------------

    def new_package(self, sa: SubActivity, method: str) -> Package:
        rng = self.rng
        opd = self.opd_by_code[sa.opd_code]
        if method == "Tender":
            account = rng.choice(names.CONSTRUCTION)
            pagu = money(rng, 400_000_000, 12_000_000_000)
        elif method == "Seleksi":
            account = rng.choice(names.CONSULTANCY)
            pagu = money(rng, 150_000_000, 2_000_000_000)
        elif method == "Penunjukan Langsung":
            account = rng.choice(names.SERVICES[:2] + names.CAPITAL_GOODS)
            pagu = money(rng, 100_000_000, 900_000_000)
        elif method == "Pengadaan Langsung":
            pool = names.OPERATING_GOODS + names.SERVICES[:3] + names.CAPITAL_GOODS
            account = rng.choice(pool)
            pagu = money(rng, 5_000_000, 150_000_000)
        elif method == "Dikecualikan":
            account = names.BILLS
            pagu = money(rng, 10_000_000, 500_000_000)
        else:
            account = rng.choice(names.OPERATING_GOODS + names.CAPITAL_GOODS)
            pagu = money(rng, 2_000_000, 800_000_000)
        category = account.categories[0]
        if method == "Dikecualikan":
            name = f"Pembayaran Tagihan Listrik {opd.name}"
        elif method == "E-Purchasing":
            name = f"Belanja {account.name.split('-')[-1].replace('Belanja ', '')} {opd.short}"
        else:
            name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
        funding = "BLUD" if opd.short == "RSUD" else ("APBDP" if rng.random() < 0.08 else "APBD")
        return Package(
            self.next_rup(),
            opd.code,
            opd.name,
            sa.code,
            account.code,
            name,
            method,
            category,
            pagu,
            funding,
        )

    def convert(self, p: Package, method: str) -> None:
        sa = self.sa_by_code[p.sa_code]
        fresh = self.new_package(sa, method)
        p.method, p.account, p.category, p.pagu, p.name = (
            fresh.method,
            fresh.account,
            fresh.category,
            fresh.pagu,
            fresh.name,
        )

    def packages(self) -> None:
        rng, ry = self.rng, self.ry
        pool = [m for m, w in METHOD_WEIGHTS for _ in range(w)]
        mean_extra = max(0.1, self.r.plan.rup_per_sa - 1)
        for sa in ry.sub_activities:
            count = min(15, 1 + int(rng.expovariate(1 / mean_extra)))
            for _ in range(count):
                ry.packages.append(self.new_package(sa, rng.choice(pool)))
        # Enough full tenders and direct procurements to carry the seeds.
        need_tenders = sum(self.k[c] for c in TENDER_ROLES) + self.r.plan.clean_tenders
        need_direct = sum(self.k[c] for c in CONTRACT_ROLES) + self.k["METHOD_DEVIATION"] + 4
        epurchasing = [p for p in ry.packages if p.method == "E-Purchasing"]
        rng.shuffle(epurchasing)
        for method, need in (("Tender", need_tenders), ("Pengadaan Langsung", need_direct)):
            have = sum(1 for p in ry.packages if p.method == method)
            while have < need and epurchasing:
                self.convert(epurchasing.pop(), method)
                have += 1
        self.dates()
        self.split_seeds()
        self.consolidate()
        self.tender_roles()
        self.method_deviation()

    def dates(self) -> None:
        rng, fy = self.rng, self.fy
        groups: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
        first, last = date(fy, 1, 5), date(fy, 8, 31)
        for p in self.ry.packages:
            if p.method != "Pengadaan Langsung":
                p.announced_on = day_between(rng, first, last)
                continue
            items = groups[(p.opd_code, p.account)]
            for _ in range(12):
                day = day_between(rng, first, last)
                if rules.window_fits(items, day, p.pagu):
                    break
            else:
                p.method, p.category = "E-Purchasing", "Barang"
                p.account = rng.choice(names.OPERATING_GOODS).code
                p.announced_on = day_between(rng, first, last)
                continue
            p.announced_on = day
            items.append((day, p.pagu))

    def split_seeds(self) -> None:
        rng, ry = self.rng, self.ry
        used: set[tuple[str, str]] = set()
        planned = list(ry.sub_activities)
        for _ in range(self.k["SPLIT_PROCUREMENT"]):
            for _ in range(100):
                sa = rng.choice(planned)
                account = rng.choice(names.OPERATING_GOODS)
                if (sa.opd_code, account.code) not in used:
                    break
            used.add((sa.opd_code, account.code))
            start = day_between(rng, date(self.fy, 2, 1), date(self.fy, 7, 31))
            work = rng.choice(["Pengadaan", "Penyediaan"])
            for part in range(3):
                p = self.new_package(sa, "Pengadaan Langsung")
                p.account, p.category = account.code, account.categories[0]
                p.pagu = rng.randint(75_000, 99_000) * 1000
                p.name = f"{work} {account.name.split('-')[-1]} Tahap {part + 1}"
                p.announced_on = start + timedelta(days=rng.randint(0, 14))
                p.role = "SPLIT_PROCUREMENT"
                ry.packages.append(p)
            self.seed(
                "SPLIT_PROCUREMENT", f"{self.r.region}/{self.fy}/{sa.opd_code}/{account.code}"
            )

    def consolidate(self) -> None:
        """A few tenders cover two packages of the same sub-activity (Paket I and II)."""
        tenders = [p for p in self.ry.packages if p.method == "Tender" and p.role is None]
        count = max(1, len(tenders) // 25)
        for p in self.rng.sample(tenders, min(count, len(tenders))):
            twin = self.new_package(self.sa_by_code[p.sa_code], "Tender")
            twin.account, twin.category = p.account, p.category
            twin.name = f"{p.name} Paket II"
            p.name = f"{p.name} Paket I"
            twin.announced_on = p.announced_on
            p.role = twin.role = CONSOLIDATED
            self.ry.packages.append(twin)

    def tender_roles(self) -> None:
        rng = self.rng
        clean = [p for p in self.ry.packages if p.method == "Tender" and p.role is None]
        rng.shuffle(clean)
        for code in TENDER_ROLES:
            for _ in range(self.k[code]):
                p = clean.pop()
                p.role = code
                # Early in the year, so late awards and moved RUP dates stay inside it.
                p.announced_on = day_between(rng, date(self.fy, 2, 1), date(self.fy, 4, 30))

    def method_deviation(self) -> None:
        direct = [
            p for p in self.ry.packages if p.method == "Pengadaan Langsung" and p.role is None
        ]
        self.rng.shuffle(direct)
        for _ in range(self.k["METHOD_DEVIATION"]):
            p = direct.pop()
            p.role = "METHOD_DEVIATION"
            p.method = "Tender"  # the RUP says Tender; SPSE will run Pengadaan Langsung

    # --- budget (DPA) ------------------------------------------------------------------

    def dpa_number(self, opd_code: str) -> str:
        index = next(i for i, o in enumerate(self.r.opds) if o.code == opd_code)
        return f"DPA/A.1/{opd_code}/{index + 1:03d}/{self.fy}"

    def budget(self) -> None:
        rng, ry = self.rng, self.ry
        by_mak: dict[tuple[str, str], int] = defaultdict(int)
        for p in ry.packages:
            by_mak[(p.sa_code, p.account)] += p.pagu
        lines_by_sa: dict[str, list[BudgetLine]] = defaultdict(list)
        for (sa_code, account_code), total in by_mak.items():
            amount = math.ceil(total * 1000 / rng.randint(750, 970) / 1000) * 1000
            line = BudgetLine(
                sa_code,
                account_code,
                names.ACCOUNT_BY_CODE[account_code].name,
                amount,
                self.dpa_number(self.sa_by_code[sa_code].opd_code),
            )
            lines_by_sa[sa_code].append(line)
        for sa in ry.sub_activities:
            for account in rng.sample(names.NON_PROCURABLE, rng.randint(1, 2)):
                lines_by_sa[sa.code].append(
                    BudgetLine(
                        sa.code,
                        account.code,
                        account.name,
                        money(rng, 5_000_000, 300_000_000),
                        self.dpa_number(sa.opd_code),
                    )
                )
        for sa in ry.sub_activities:
            ry.budget_lines.extend(lines_by_sa[sa.code])
        # RUP_ABOVE_DPA: the DPA line is cut below what SiRUP plans on its mak.
        procured = [line for line in ry.budget_lines if (line.sa_code, line.account) in by_mak]
        for line in rng.sample(procured, self.k["RUP_ABOVE_DPA"]):
            total = by_mak[(line.sa_code, line.account)]
            line.amount = total * rng.randint(80, 95) // 100 // 1000 * 1000
            self.seed("RUP_ABOVE_DPA", f"{self.r.region}/{self.fy}/{line.sa_code}.{line.account}.")
        self.procured_lines = {(line.sa_code, line.account) for line in procured}
        # NOT_PROCURED_BY_Q3: a capital line with no package, or one announced after Q3.
        capital = [a for a in names.ACCOUNTS if a.code.startswith("5.2")]
        for n, (sa, account) in enumerate(self.free_accounts(capital, "NOT_PROCURED_BY_Q3")):
            line = BudgetLine(
                sa.code,
                account.code,
                account.name,
                money(rng, 200_000_000, 2_000_000_000),
                self.dpa_number(sa.opd_code),
            )
            ry.budget_lines.append(line)
            if n % 2:
                p = self.new_package(sa, "E-Purchasing")
                p.account, p.category = account.code, account.categories[0]
                p.pagu = line.amount * rng.randint(60, 90) // 100 // 1000 * 1000
                last = min(date(self.fy, 11, 20), self.cutoff - timedelta(days=5))
                p.announced_on = day_between(rng, date(self.fy, 10, 1), last)
                p.role = "NOT_PROCURED_BY_Q3"
                ry.packages.append(p)
            self.seed("NOT_PROCURED_BY_Q3", f"{self.sa_key(sa.code)}/{account.code}")
        # RUP_WITHOUT_DPA: a package on an account the sub-activity has no DPA line for.
        goods = names.OPERATING_GOODS + names.CAPITAL_GOODS
        for sa, account in self.free_accounts(goods, "RUP_WITHOUT_DPA"):
            p = self.new_package(sa, "E-Purchasing")
            p.account, p.category = account.code, account.categories[0]
            p.announced_on = day_between(rng, date(self.fy, 2, 1), date(self.fy, 8, 31))
            p.role = "RUP_WITHOUT_DPA"
            ry.packages.append(p)
            self.seed("RUP_WITHOUT_DPA", str(p.rup_code))

    def free_accounts(
        self, accounts: list[names.Account], code: str
    ) -> list[tuple[SubActivity, names.Account]]:
        """`k[code]` distinct sub-activities, each with an account it has no DPA line for."""
        rng = self.rng
        have: dict[str, set[str]] = defaultdict(set)
        for line in self.ry.budget_lines:
            have[line.sa_code].add(line.account)
        out: list[tuple[SubActivity, names.Account]] = []
        for sa in rng.sample(self.ry.sub_activities, len(self.ry.sub_activities)):
            if len(out) == self.k[code]:
                break
            free = [a for a in accounts if a.code not in have[sa.code]]
            if free:
                out.append((sa, rng.choice(free)))
        return out

    def special_sub_activities(self) -> None:
        """Sub-activities only in the plan, or only in the DPA (family 1)."""
        rng, ry = self.rng, self.ry
        anchors = rng.sample(
            ry.sub_activities, self.k["PLAN_WITHOUT_BUDGET"] + self.k["BUDGET_WITHOUT_PLAN"]
        )
        seq = 9000
        for n, anchor in enumerate(anchors):
            seq += rng.randint(1, 9)
            code = f"{anchor.code.rsplit('.', 1)[0]}.{seq:04d}"
            internal = self.unique_id(1_000_000, 9_999_999)
            name = f"{rng.choice(names.WORKS)} {rng.choice(names.OBJECTS)}"
            sa = SubActivity(code, name, anchor.opd_code, internal)
            self.sa_by_code[code] = sa
            if n < self.k["PLAN_WITHOUT_BUDGET"]:
                sa.has_budget = False
                sa.planned = money(rng, 50_000_000, 1_000_000_000)
                self.seed("PLAN_WITHOUT_BUDGET", self.sa_key(code))
            else:
                sa.in_plan = False
                for account in rng.sample(names.NON_PROCURABLE, rng.randint(1, 2)):
                    ry.budget_lines.append(
                        BudgetLine(
                            code,
                            account.code,
                            account.name,
                            money(rng, 10_000_000, 400_000_000),
                            self.dpa_number(anchor.opd_code),
                        )
                    )
                self.seed("BUDGET_WITHOUT_PLAN", self.sa_key(code))
            ry.sub_activities.append(sa)
        totals: dict[str, int] = defaultdict(int)
        for line in ry.budget_lines:
            totals[line.sa_code] += line.amount
        for sa in ry.sub_activities:
            if sa.has_budget:
                sa.planned = totals[sa.code] * rng.randint(90, 110) // 100 // 1000 * 1000

    # --- procurement (SPSE) ------------------------------------------------------------

    def tenders(self) -> None:
        ry = self.ry
        twins: dict[str, list[Package]] = defaultdict(list)
        for p in ry.packages:
            if p.role == CONSOLIDATED:
                twins[p.sa_code + p.account].append(p)
        done: set[int] = set()
        for p in list(ry.packages):
            if p.rup_code in done:
                continue
            spse = "Pengadaan Langsung" if p.role == "METHOD_DEVIATION" else p.method
            if spse not in SPSE_METHODS:
                continue
            group = twins[p.sa_code + p.account] if p.role == CONSOLIDATED else [p]
            done.update(g.rup_code for g in group)
            ry.tenders.append(self.tender(group, spse))
        for _ in range(self.k["TENDER_WITHOUT_RUP"]):
            ry.tenders.append(self.off_plan_tender())

    def tender(self, group: list[Package], method: str) -> Tender:
        rng, p = self.rng, group[0]
        role = p.role if p.role in TENDER_ROLES else None
        pagu = sum(g.pagu for g in group)
        hps = pagu * rng.randint(900, 990) // 1000 // 1000 * 1000
        competitive = method in ("Tender", "Seleksi")
        if competitive:
            lag = rng.randint(7, 30) if role else rng.randint(7, 45)
        else:
            lag = rng.randint(3, 20)
        announced = p.announced_on + timedelta(days=lag)
        closes = None
        if competitive:
            window = rng.randint(5, 12) if role == "SHORT_BID_WINDOW" else rng.randint(16, 30)
            closes = announced + timedelta(days=window)
            signed = closes + timedelta(days=rng.randint(5, 25))
            if role == "SLOW_AWARD":
                signed = announced + timedelta(days=rng.randint(75, 100))
        else:
            signed = announced + timedelta(days=rng.randint(5, 20))
        t = Tender(
            code=self.next_tender(),
            name=p.name.removesuffix(" Paket I") if len(group) > 1 else p.name,
            method=method,
            hps=hps,
            pagu=pagu,
            status="Selesai",
            version=2 if role == "RETENDER" else 1,
            announced_on=announced,
            bid_closes_on=closes,
            rup_codes=[g.rup_code for g in group],
            role=role or (CONSOLIDATED if len(group) > 1 else None),
        )
        if role == "TENDER_BEFORE_RUP":
            p.announced_on = announced + timedelta(days=rng.randint(3, 20))
            self.seed(role, str(t.code))
        elif role == "RETENDER" or role == "SHORT_BID_WINDOW" or role == "SLOW_AWARD":
            self.seed(role, str(t.code))
        elif p.role == "METHOD_DEVIATION":
            t.role = "METHOD_DEVIATION"
            self.seed("METHOD_DEVIATION", str(t.code))
        failed = competitive and role is None and rng.random() < 0.03
        if signed > self.cutoff or failed:
            t.status = "Gagal" if failed else "Berlangsung"
            t.bids = self.bids(t, None, None)
            return t
        if role == "CONTRACT_ABOVE_OWNER_ESTIMATE":
            value = hps * rng.randint(1010, 1060) // 1000 // 100 * 100
        elif role == "CONTRACT_NEAR_OWNER_ESTIMATE":
            value = hps - rng.randint(0, hps // 100 // 100) * 100
        else:
            value = hps * rng.randint(880, 980) // 1000 // 100 * 100
        winner = self.rng.choice(self.r.vendors)
        t.bids = self.bids(t, winner, value)
        self.contract_seq += 1
        opd = self.opd_by_code[p.opd_code]
        kind = "KONTRAK" if competitive else "SPK"
        starts = signed + timedelta(days=rng.randint(0, 7))
        length = (
            rng.randint(60, 150) if p.category == "Pekerjaan Konstruksi" else rng.randint(14, 90)
        )
        ends = min(starts + timedelta(days=length), date(self.fy, 12, 20))
        ends = max(ends, starts + timedelta(days=7))
        t.contract = Contract(
            f"{self.contract_seq:04d}/{kind}/{opd.short}/{self.fy}",
            t.code,
            winner,
            value,
            signed,
            starts,
            ends,
        )
        if role in ("CONTRACT_ABOVE_OWNER_ESTIMATE", "CONTRACT_NEAR_OWNER_ESTIMATE"):
            self.seed(role, f"{self.r.region}/{t.contract.number}")
        if role in ("SINGLE_BIDDER", "IDENTICAL_BIDS", "WINNER_NOT_LOWEST"):
            self.seed(role, str(t.code))
        if rng.random() < 0.08:
            self.amend(t.contract, rng.randint(950, 1080))
        return t

    def amend(self, c: Contract, per_mille: int, versions: int = 1) -> None:
        mid = c.starts_on + (c.ends_on - c.starts_on) / 2
        signed = min(mid, self.cutoff)
        c.amendments = []
        for version in range(1, versions + 1):
            step = per_mille if version == versions else 1000 + (per_mille - 1000) // 3
            c.amendments.append(
                Amendment(
                    version,
                    c.value * step // 1000 // 1000 * 1000,
                    "Pekerjaan tambah kurang (CCO)" if step > 1000 else "Perubahan volume",
                    min(signed + timedelta(days=version * 5), self.cutoff),
                )
            )

    def bids(self, t: Tender, winner: Vendor | None, value: int | None) -> list[Bid]:
        """The bidders of a tender; the winner's corrected price is the contract value."""
        rng, role = self.rng, t.role
        hps = t.hps
        if t.method not in ("Tender", "Seleksi"):
            vendor = winner or rng.choice(self.r.vendors)
            amount = value if value is not None else hps * rng.randint(900, 980) // 1000
            return [Bid(vendor, amount, amount, winner is not None)]
        submitted = 1 if role == "SINGLE_BIDDER" else rng.randint(3 if role else 2, 5)
        registered = rng.randint(0, 6)
        others = [v for v in self.r.vendors if v is not winner]
        vendors = rng.sample(others, min(len(others), submitted + registered))
        reference = value if value is not None else hps * rng.randint(880, 980) // 1000
        used = {reference}

        def fresh(low: int, high: int) -> int:
            while True:
                amount = rng.randint(low // 100, max(low // 100, high // 100)) * 100
                if amount not in used:
                    used.add(amount)
                    return amount

        bids: list[Bid] = []
        if winner is not None:
            bids.append(Bid(winner, reference, reference, True))
        else:  # no award yet: the lowest bid is there, nobody is marked the winner
            bids.append(Bid(vendors.pop(), reference, reference, False))
        rest = submitted - 1
        if role == "IDENTICAL_BIDS":
            same = fresh(reference + 1000, max(reference, hps) * 103 // 100)
            bids += [Bid(vendors.pop(), same, same), Bid(vendors.pop(), same, same)]
            rest -= 2
        if role == "WINNER_NOT_LOWEST" or (
            t.method == "Seleksi" and winner is not None and rest > 0 and rng.random() < 0.3
        ):
            low = fresh(reference * 90 // 100, reference - 1000)
            bids.append(Bid(vendors.pop(), low, low))
            rest -= 1
        for _ in range(max(0, rest)):
            if rng.random() < 0.25:  # failed the administrative check: never corrected
                amount = fresh(reference * 85 // 100, reference * 105 // 100)
                bids.append(Bid(vendors.pop(), amount, None))
            else:
                amount = fresh(reference + 1000, max(reference + 2000, hps * 103 // 100))
                bids.append(Bid(vendors.pop(), amount, amount))
        for vendor in vendors[:registered]:
            bids.append(Bid(vendor, None, None))
        rng.shuffle(bids)
        return bids

    def off_plan_tender(self) -> Tender:
        """TENDER_WITHOUT_RUP: no link, or a link to a RUP code SiRUP does not have."""
        rng = self.rng
        hps = money(rng, 500_000_000, 3_000_000_000)
        announced = day_between(rng, date(self.fy, 3, 1), date(self.fy, 9, 15))
        dangling = [] if rng.random() < 0.5 else [self.rup_seq + 400_000 + rng.randint(1, 9999)]
        t = Tender(
            code=self.next_tender(),
            name=f"Pembangunan {rng.choice(names.OBJECTS)}",
            method="Tender",
            hps=hps,
            pagu=hps * 100 // 95 // 1000 * 1000,
            status="Berlangsung",
            version=1,
            announced_on=announced,
            bid_closes_on=announced + timedelta(days=rng.randint(16, 30)),
            rup_codes=dangling,
            role="TENDER_WITHOUT_RUP",
        )
        t.bids = self.bids(t, None, None)
        self.seed("TENDER_WITHOUT_RUP", str(t.code))
        return t

    # --- contract seeds, progress, payments --------------------------------------------

    def contract_roles(self) -> None:
        rng, ry = self.rng, self.ry
        packages = {p.rup_code: p for p in ry.packages}
        pool = [
            t
            for t in ry.tenders
            if t.contract is not None and t.role is None and len(t.rup_codes) == 1
        ]
        rng.shuffle(pool)

        def take(ok: str | None = None) -> Tender:
            for i, t in enumerate(pool):
                c = t.contract
                assert c is not None
                sa = packages[t.rup_codes[0]].sa_code
                if sa in self.special_sas:
                    continue
                if ok == "payable" and c.starts_on + timedelta(days=25) > self.cutoff:
                    continue
                if ok == "before" and (
                    (c.ends_on - c.starts_on).days < 20
                    or c.starts_on + timedelta(days=12) > self.cutoff
                ):
                    continue
                return pool.pop(i)
            raise RuntimeError(f"estate {self.r.region}/{self.fy}: too few contracts to seed")

        for _ in range(self.k["PAID_AHEAD_OF_PROGRESS"]):
            t = take("payable")
            assert t.contract is not None
            sa = packages[t.rup_codes[0]].sa_code
            self.special_sas.add(sa)
            self.latest[sa] = tenths(rng, 46, 49.5)
            self.contract_role[t.contract.number] = "PAID_AHEAD_OF_PROGRESS"
            self.seed("PAID_AHEAD_OF_PROGRESS", f"{self.r.region}/{t.contract.number}")
        for _ in range(self.k["PAYMENT_BEFORE_HANDOVER"]):
            t = take("before")
            assert t.contract is not None
            # Its sub-activity keeps normal progress: no other seed may lower it.
            self.special_sas.add(packages[t.rup_codes[0]].sa_code)
            self.contract_role[t.contract.number] = "PAYMENT_BEFORE_HANDOVER"
            self.seed("PAYMENT_BEFORE_HANDOVER", f"{self.r.region}/{t.contract.number}")
        for _ in range(self.k["AMENDMENT_ABOVE_10_PERCENT"]):
            t = take()
            assert t.contract is not None
            self.amend(t.contract, rng.randint(1150, 1300), versions=rng.randint(1, 2))
            self.contract_role[t.contract.number] = "AMENDMENT_ABOVE_10_PERCENT"
            self.seed("AMENDMENT_ABOVE_10_PERCENT", f"{self.r.region}/{t.contract.number}")
        self.payee_pool = pool
        # Sub-activities behind schedule: none of the above.
        reporting = [
            sa.code
            for sa in ry.sub_activities
            if sa.in_plan and sa.has_budget and sa.code not in self.special_sas
        ]
        for code in rng.sample(reporting, self.k["PROGRESS_BEHIND_SCHEDULE"]):
            self.special_sas.add(code)
            self.latest[code] = Decimal(-1)  # marker: behind schedule
            self.seed("PROGRESS_BEHIND_SCHEDULE", self.sa_key(code))

    def progress(self) -> None:
        rng, ry = self.rng, self.ry
        last_q = 4 if self.closed else 3
        for sa in ry.sub_activities:
            if not (sa.in_plan and sa.has_budget):
                continue
            marker = self.latest.get(sa.code)
            quarters = last_q
            if marker is None:
                q1 = tenths(rng, 5, 25)
                q2 = tenths(rng, max(20, float(q1)), 50)
                q3 = tenths(rng, 50, 85)
                values = [q1, q2, q3, tenths(rng, 85, 100)]
            elif marker < 0 and self.closed:  # behind at Q4, on schedule before
                q4 = tenths(rng, 50, 74.9)
                q3 = tenths(rng, 45, min(65, float(q4)))
                q2 = tenths(rng, 15, min(35, float(q3)))
                values = [tenths(rng, 2, min(10, float(q2))), q2, q3, q4]
            elif marker < 0:  # behind at Q3 of the running year
                q3 = tenths(rng, 20, 40)
                q2 = tenths(rng, 15, float(q3))
                values = [tenths(rng, 2, min(10, float(q2))), q2, q3]
            else:  # paid ahead: reports stop at Q3, just under 50%
                quarters = 3
                q2 = tenths(rng, 15, 35)
                values = [tenths(rng, 2, 10), q2, marker]
            values = values[:quarters]
            self.latest[sa.code] = values[-1]
            for quarter, physical in enumerate(values, start=1):
                financial = (physical * rng.randint(60, 100) / 100).quantize(Decimal("0.1"))
                problem = rng.choice(names.PROBLEMS) if rng.random() < 0.12 else None
                ry.progress.append(
                    Progress(sa.code, sa.opd_code, quarter, physical, financial, problem)
                )

    def payments(self) -> None:
        rng, ry = self.rng, self.ry
        packages = {p.rup_code: p for p in ry.packages}
        raw: list[Payment] = []

        def pay(day: date, amount: int, kind: str, **fields: str | None) -> None:
            raw.append(
                Payment(
                    "",
                    day,
                    amount,
                    kind,
                    fields.get("account"),
                    fields.get("sa_code"),
                    fields.get("contract_number"),
                    fields.get("payee_name") or "",
                    fields.get("payee_npwp"),
                )
            )

        for t in ry.tenders:
            c = t.contract
            if c is None:
                continue
            linked = [packages[code] for code in t.rup_codes]
            p = linked[0]
            progress = [self.latest[g.sa_code] for g in linked if g.sa_code in self.latest]
            physical = min(progress) if progress else Decimal(60)
            role = self.contract_role.get(c.number)
            for day, amount in self.contract_payments(c, physical, role):
                pay(
                    day,
                    amount,
                    "LS",
                    account=p.account,
                    sa_code=p.sa_code,
                    contract_number=c.number,
                    payee_name=c.vendor.name,
                    payee_npwp=c.vendor.npwp,
                )
        for p in ry.packages:
            day = p.announced_on + timedelta(days=rng.randint(20, 60))
            if p.method == "E-Purchasing" and day <= self.cutoff and p.role != "RUP_WITHOUT_DPA":
                vendor = rng.choice(self.r.vendors)
                pay(
                    day,
                    p.pagu * rng.randint(85, 100) // 100,
                    "LS",
                    account=p.account,
                    sa_code=p.sa_code,
                    payee_name=vendor.name,
                    payee_npwp=vendor.npwp,
                )
            elif p.method == "Dikecualikan":
                for month in sorted(rng.sample(range(2, 12), 2)):
                    day = date(self.fy, month, rng.randint(5, 25))
                    if day <= self.cutoff:
                        pay(
                            day,
                            p.pagu * rng.randint(20, 45) // 100,
                            "LS",
                            account=p.account,
                            sa_code=p.sa_code,
                            payee_name=PLN[0],
                            payee_npwp=PLN[1],
                        )
        procured = self.procured_lines
        for line in ry.budget_lines:
            if (line.sa_code, line.account) in procured or line.account.startswith("5.2"):
                continue
            opd = self.opd_by_code[self.sa_by_code[line.sa_code].opd_code]
            share = rng.randint(10, 40)
            for _ in range(rng.randint(1, 3)):
                pay(
                    day_between(rng, date(self.fy, 2, 1), self.cutoff),
                    line.amount * share // 100 // 1000 * 1000,
                    "GU",
                    account=line.account,
                    sa_code=line.sa_code,
                    payee_name=f"Bendahara Pengeluaran {opd.name}",
                )
        for opd in self.r.opds:
            pay(
                date(self.fy, 1, rng.randint(10, 31)),
                money(rng, 50_000_000, 500_000_000),
                "UP",
                payee_name=f"Bendahara Pengeluaran {opd.name}",
            )
        raw.sort(key=lambda p: (p.paid_on, p.kind, p.amount))
        for n, payment in enumerate(raw, start=1):
            payment.number = f"{n:05d}/SP2D/{payment.kind}/{self.fy}"
        ry.payments = raw

    def contract_payments(
        self, c: Contract, physical: Decimal, role: str | None
    ) -> list[tuple[date, int]]:
        rng = self.rng
        total = c.effective_value
        first = c.starts_on + timedelta(days=10)
        if first > self.cutoff:
            return []
        if role == "PAID_AHEAD_OF_PROGRESS":
            paid = total * rng.randint(91, 99) // 100
            part = paid * rng.randint(30, 60) // 100
            days = sorted(day_between(rng, first, self.cutoff) for _ in range(2))
            return [(days[0], part), (days[1], paid - part)]
        if role == "PAYMENT_BEFORE_HANDOVER":
            last = min(c.ends_on - timedelta(days=1), self.cutoff)
            part = total * rng.randint(20, 50) // 100
            days = sorted(day_between(rng, first, last) for _ in range(2))
            return [(days[0], part), (days[1], total - part)]
        final = c.ends_on + timedelta(days=5)
        if physical >= 80 and final <= self.cutoff:
            out: list[tuple[date, int]] = []
            paid = 0
            if first < c.ends_on:
                for _ in range(rng.randint(0, 2)):
                    amount = total * rng.randint(15, 35) // 100
                    out.append((day_between(rng, first, c.ends_on - timedelta(days=1)), amount))
                    paid += amount
            last = min(final + timedelta(days=20), self.cutoff)
            out.append((day_between(rng, final, last), total - paid))
            return out
        share = min(Decimal("0.85"), physical / 100 * rng.randint(50, 100) / 100)
        paid = int(total * share)
        if paid < 1_000_000:
            return []
        last = min(self.cutoff, c.ends_on + timedelta(days=30))
        if rng.random() < 0.5:
            return [(day_between(rng, first, last), paid)]
        part = paid * rng.randint(30, 70) // 100
        days = sorted(day_between(rng, first, last) for _ in range(2))
        return [(days[0], part), (days[1], paid - part)]

    def payee_not_winner(self) -> None:
        rng = self.rng
        by_contract: dict[str, list[Payment]] = defaultdict(list)
        for p in self.ry.payments:
            if p.contract_number:
                by_contract[p.contract_number].append(p)
        pool = [t for t in self.payee_pool if t.contract and by_contract.get(t.contract.number)]
        for t in rng.sample(pool, self.k["PAYEE_NOT_WINNER"]):
            assert t.contract is not None
            payment = rng.choice(by_contract[t.contract.number])
            other = rng.choice([v for v in self.r.vendors if v.npwp != t.contract.vendor.npwp])
            payment.payee_name, payment.payee_npwp = other.name, other.npwp
            self.seed("PAYEE_NOT_WINNER", f"{self.r.region}/{self.fy}/{payment.number}")

    # --- indicators and SiRUP history --------------------------------------------------

    def indicators(self) -> None:
        rng, ry = self.rng, self.ry
        for sa in ry.sub_activities:
            if not sa.in_plan:
                continue
            for seq in range(1, rng.randint(1, 2) + 1):
                description, unit = rng.choice(names.INDICATORS)
                target = Decimal(100 if unit == "Persen" else rng.randint(1, 60))
                achieved = None
                if self.closed and sa.has_budget:
                    achieved = (target * rng.randint(60, 120) / 100).quantize(Decimal("0.1"))
                ry.indicators.append(Indicator(sa.code, seq, description, unit, target, achieved))
        measured = [i for i in ry.indicators if i.achieved is not None]
        for ind in rng.sample(measured, self.k["INDICATOR_BELOW_TARGET"]):
            ind.achieved = (ind.target * rng.randint(10, 40) / 100).quantize(Decimal("0.1"))
            self.seed("INDICATOR_BELOW_TARGET", f"{self.sa_key(ind.sa_code)}/{ind.seq}")

    def histories(self) -> None:
        rng, ry = self.rng, self.ry
        published = rules.PUBLISHED
        plain = [p for p in ry.packages if p.method == "E-Purchasing" and p.role is None]
        changed = {p.rup_code for p in rng.sample(plain, self.k["PUBLISHED_VALUE_CHANGED"])}
        for p in ry.packages:
            day = p.announced_on
            later = min(day + timedelta(days=rng.randint(10, 60)), self.cutoff)
            if p.rup_code in changed:
                factor = rng.choice([rng.randint(70, 90), rng.randint(110, 130)])
                before = p.pagu * factor // 100 // 1000 * 1000
                p.history = [(1, before, published, day), (2, p.pagu, published, later)]
                self.seed("PUBLISHED_VALUE_CHANGED", str(p.rup_code))
                continue
            draw = rng.random()
            if draw < 0.1:
                draft = p.pagu * rng.randint(80, 120) // 100 // 1000 * 1000
                drafted = max(date(self.fy, 1, 2), day - timedelta(days=rng.randint(10, 40)))
                p.history = [(1, draft, "Draft", drafted), (2, p.pagu, published, day)]
            elif draw < 0.15:
                p.history = [(1, p.pagu, published, day), (2, p.pagu, published, later)]
            else:
                p.history = [(1, p.pagu, published, day)]
