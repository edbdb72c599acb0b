"""Runs the ketimpangan rules: in full, or after a sync on the Pemda-years that changed.

Incremental runs follow the change feed. `discrepancy_state.position` is the outbox id up
to which changes have been checked. A run reads the changes after it, groups them by
entity, Pemda and fiscal year, and re-evaluates only the rules that read those entities,
on only those Pemda-years (every rule is local to one Pemda and year). A change without a
Pemda (a vendor) re-evaluates the rules that read it everywhere.

A finding the data shows is upserted by (rule, subject_key). One it no longer shows,
within the Pemda-years evaluated, gets `resolved_at`. Raising, re-raising and resolving
are written to change_history and the outbox (entity `Discrepancy`) in the same
transaction, so `Subscription.discrepancyEvents` resumes like `changes` does. Runs
serialise on an advisory lock: any number of hub processes may call it.

A run compares deadlines and graces with one reference day (`Thresholds.reference_day`:
the configured `as_of`, else today in WITA), kept in `discrepancy_state.reference_day`.
When it differs from the last run's, the `dated` rules run on every Pemda-year: their
findings moved with the day, not with the data.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import orjson

from hub.db import PgConnection
from hub.discrepancies.followup import close_by_data
from hub.discrepancies.rules import RULES, Rule
from hub.discrepancies.thresholds import Thresholds
from hub.events.changelog import Change, LoggedEntity, Routing, record
from hub.events.outbox import DISCREPANCY as ENTITY
from hub.telemetry.metrics import RULE_SECONDS

DISCREPANCY_LOCK = 0x52414E5441490003
DISCREPANCY = LoggedEntity("discrepancy", ENTITY)  # routed by `_evaluate`

Part = tuple[int, int]  # (region_id, fiscal_year)


@dataclass
class RunReport:
    full: bool
    rules: int = 0
    partitions: int = 0
    changes: int = 0  # outbox events read
    raised: int = 0
    resolved: int = 0
    updated: int = 0
    open: int = 0  # open discrepancies in the store after the run
    follow_ups_closed: int = 0  # follow-ups closed because their finding was resolved
    reference_day: date | None = None  # the day the dated rules compared with
    seconds: float = 0.0
    by_rule: dict[str, int] = field(default_factory=dict)  # open findings per rule evaluated


class DiscrepancyEngine:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()

    async def run(self, conn: PgConnection, *, full: bool = False) -> RunReport:
        started = time.perf_counter()
        report = RunReport(full=full)
        t = self.thresholds.on_reference_day()
        report.reference_day = t.as_of
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", DISCREPANCY_LOCK)
            # The statements read a few Pemda-years' rows, in a fraction of a second; their
            # estimated costs sit near JIT's thresholds (tender_scope's per-tender lookup),
            # and compiling one with inlining and optimisation took 0.8 s at province
            # scale, more than running it. Off for the rest of this transaction.
            await conn.execute("SET LOCAL jit = off")
            state = await conn.fetchrow(
                "SELECT position, reference_day FROM discrepancy_state WHERE id = 1 FOR UPDATE"
            )
            assert state is not None  # the one row, inserted by the migration
            position, last_day = state["position"], state["reference_day"]
            head = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM outbox")
            horizon = await conn.fetchval("SELECT pruned_through FROM outbox_horizon WHERE id = 1")
            plan: dict[str, set[Part] | None]
            if full or position < (horizon or 0):
                report.full = True
                plan = {rule.code: None for rule in RULES}
            else:
                plan = await self._plan(conn, position, head, report)
                if last_day != t.as_of:  # the day moved: the dated rules, everywhere
                    plan.update({rule.code: None for rule in RULES if rule.dated})
            raised: list[Change] = []
            context: dict[int, Routing] = {}
            all_parts = await self._all_parts(conn) if any(v is None for v in plan.values()) else []
            evaluated: set[Part] = set()
            for rule in RULES:
                if rule.code not in plan:
                    continue
                parts = plan[rule.code]
                chosen = sorted(parts) if parts is not None else all_parts
                if not chosen:
                    continue
                evaluated.update(chosen)
                report.rules += 1
                await self._evaluate(conn, t, rule, chosen, report, raised, context)
            report.partitions = len(evaluated)
            if raised:
                await record(conn, DISCREPANCY, raised, context=context)
                # A follow-up ends with its finding: its thread says the data closed it.
                resolved = [c.entity_id for c in raised if c.before == {"resolved_at": None}]
                report.follow_ups_closed = await close_by_data(conn, resolved)
            await conn.execute(
                "UPDATE discrepancy_state SET position = GREATEST(position, $1), ran_at = now(), "
                "reference_day = $2"
                + (", full_at = now()" if report.full else "")
                + " WHERE id = 1",
                head,
                t.as_of,
            )
            report.open = await conn.fetchval(
                "SELECT count(*) FROM discrepancy WHERE resolved_at IS NULL"
            )
        report.seconds = time.perf_counter() - started
        return report

    async def _all_parts(self, conn: PgConnection) -> list[Part]:
        rows = await conn.fetch(
            """SELECT region_id, fiscal_year FROM sub_activity
            UNION SELECT region_id, fiscal_year FROM budget_line
            UNION SELECT region_id, fiscal_year FROM procurement_package
            UNION SELECT region_id, fiscal_year FROM payment
            UNION SELECT region_id, fiscal_year FROM progress_report
            UNION SELECT region_id, fiscal_year FROM indicator
            UNION SELECT region_id, fiscal_year FROM tender_scope
            UNION SELECT region_id, fiscal_year FROM discrepancy WHERE resolved_at IS NULL"""
        )
        return sorted((r[0], r[1]) for r in rows if r[0] is not None and r[1] is not None)

    async def _plan(
        self, conn: PgConnection, position: int, head: int, report: RunReport
    ) -> dict[str, set[Part] | None]:
        """Which rules to run on which Pemda-years, from the changes after `position`."""
        rows = await conn.fetch(
            """SELECT o.entity, r.id AS region_id, o.fiscal_year, count(*) AS n
            FROM outbox o LEFT JOIN region r ON r.code = o.region_code
            WHERE o.id > $1 AND o.id <= $2 AND o.entity <> $3
            GROUP BY 1, 2, 3""",
            position,
            head,
            ENTITY,
        )
        report.changes = sum(r["n"] for r in rows)
        if not rows:
            return {}
        years_of: dict[int, list[int]] = defaultdict(list)
        # A change with a Pemda but no year (a contract, a tender) counts for each of that
        # Pemda's years: read for those Pemda only (for all, three whole tables: 0.3 s at
        # NTT scale on every run).
        yearless = {r["region_id"] for r in rows if r["fiscal_year"] is None} - {None}
        if yearless:
            for r in await conn.fetch(
                "SELECT region_id, fiscal_year FROM sub_activity WHERE region_id = ANY($1) "
                "UNION SELECT region_id, fiscal_year FROM budget_line WHERE region_id = ANY($1) "
                "UNION SELECT region_id, fiscal_year FROM procurement_package "
                "WHERE region_id = ANY($1)",
                sorted(yearless),
            ):
                years_of[r[0]].append(r[1])
        everywhere: set[str] = set()  # entities changed without a Pemda, e.g. a vendor
        parts: dict[str, set[Part]] = defaultdict(set)
        for r in rows:
            if r["region_id"] is None:
                everywhere.add(r["entity"])
                continue
            years = [r["fiscal_year"]] if r["fiscal_year"] is not None else years_of[r["region_id"]]
            parts[r["entity"]].update((r["region_id"], y) for y in years)
        touched: dict[str, set[Part] | None] = {**parts, **dict.fromkeys(everywhere)}
        plan: dict[str, set[Part] | None] = {}
        for rule in RULES:
            hits = [touched[e] for e in rule.depends if e in touched]
            if not hits:
                continue
            if any(h is None for h in hits):
                plan[rule.code] = None
            else:
                plan[rule.code] = set().union(*(h for h in hits if h is not None))
        return plan

    async def _evaluate(
        self,
        conn: PgConnection,
        t: Thresholds,
        rule: Rule,
        parts: list[Part],
        report: RunReport,
        events: list[Change],
        context: dict[int, Routing],
    ) -> None:
        with RULE_SECONDS.labels(rule.code).time():
            await self._evaluate_timed(conn, t, rule, parts, report, events, context)

    async def _evaluate_timed(
        self,
        conn: PgConnection,
        t: Thresholds,
        rule: Rule,
        parts: list[Part],
        report: RunReport,
        events: list[Change],
        context: dict[int, Routing],
    ) -> None:
        severity = t.severity_of(rule.code, rule.severity)
        regions = [p[0] for p in parts]
        years = [p[1] for p in parts]
        found = {r["subject_key"]: r for r in await conn.fetch(rule.statement(t), regions, years)}
        report.by_rule[rule.code] = len(found)
        known = {
            r["subject_key"]: r
            for r in await conn.fetch(
                """SELECT d.*, rg.code AS region_code, o.code AS opd_code FROM discrepancy d
                JOIN region rg ON rg.id = d.region_id LEFT JOIN opd o ON o.id = d.opd_id
                WHERE d.rule = $1 AND (d.subject_key = ANY($2::text[])
                    OR (d.resolved_at IS NULL AND (d.region_id, d.fiscal_year) IN (
                        SELECT * FROM unnest($3::bigint[], $4::int[]))))""",
                rule.code,
                list(found),
                regions,
                years,
            )
        }
        now = datetime.now(UTC)
        upserts = []
        for key, f in found.items():
            old = known.get(key)
            evidence = f["evidence"] or "[]"
            values = (
                key,
                severity,
                f["message"],
                f["fiscal_year"],
                f["region_id"],
                f["opd_id"],
                f["sub_activity_id"],
                evidence,
            )
            if old is None:
                upserts.append((*values, now, "raised"))
            elif old["resolved_at"] is not None:
                upserts.append((*values, now, "reraised"))
            elif (
                old["message"] != f["message"]
                or old["severity"] != severity
                or orjson.loads(old["evidence"]) != orjson.loads(evidence)
                or (old["opd_id"], old["sub_activity_id"]) != (f["opd_id"], f["sub_activity_id"])
            ):
                upserts.append((*values, old["detected_at"], "updated"))
        if upserts:
            rows = await conn.fetch(
                """INSERT INTO discrepancy AS d (rule, subject_key, severity, message,
                    fiscal_year, region_id, opd_id, sub_activity_id, evidence, detected_at)
                SELECT $1, k, s, m, y, r, o, sa, e::jsonb, t
                FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[],
                            $7::bigint[], $8::bigint[], $9::text[], $10::timestamptz[])
                    AS v(k, s, m, y, r, o, sa, e, t)
                ON CONFLICT (rule, subject_key) DO UPDATE SET severity = excluded.severity,
                    message = excluded.message, fiscal_year = excluded.fiscal_year,
                    region_id = excluded.region_id, opd_id = excluded.opd_id,
                    sub_activity_id = excluded.sub_activity_id, evidence = excluded.evidence,
                    detected_at = excluded.detected_at, resolved_at = NULL
                RETURNING d.id, d.subject_key""",
                rule.code,
                *[list(col) for col in zip(*(u[:9] for u in upserts), strict=True)],
            )
            ids = {r["subject_key"]: r["id"] for r in rows}
            for u in upserts:
                kind = u[-1]
                if kind == "updated":
                    report.updated += 1
                    continue
                report.raised += 1
                did = ids[u[0]]
                after = {"resolved_at": None, "message": u[2], "severity": u[1]}
                if kind == "reraised":
                    after["detected_at"] = u[8].isoformat()
                events.append(
                    Change(did, f"{rule.code}/{u[0]}", "CREATED" if kind == "raised" else "UPDATED",
                           None if kind == "raised" else {"resolved_at": "set"}, after)
                )  # fmt: skip
        gone = [r for key, r in known.items() if key not in found and r["resolved_at"] is None]
        if gone:
            await conn.execute(
                "UPDATE discrepancy SET resolved_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in gone],
            )
            for r in gone:
                report.resolved += 1
                events.append(
                    Change(r["id"], f"{rule.code}/{r['subject_key']}", "UPDATED",
                           {"resolved_at": None}, {"resolved_at": now.isoformat()})
                )  # fmt: skip
        if upserts or gone:
            codes = await conn.fetch(
                """SELECT d.id, rg.code, o.code, d.fiscal_year FROM discrepancy d
                JOIN region rg ON rg.id = d.region_id LEFT JOIN opd o ON o.id = d.opd_id
                WHERE d.rule = $1 AND d.subject_key = ANY($2::text[])""",
                rule.code,
                [u[0] for u in upserts] + [r["subject_key"] for r in gone],
            )
            for c in codes:
                context[c[0]] = (c[1], c[2], c[3])
