"""The viewer's scope: which part of the chain a request may see (ARCHITECTURE.md §6).

Every read goes through `DataAccess`, which asks the scope for a SQL predicate per table,
so lists, `node(id)`, nested fields and subscription events are filtered by the same rule.

- `EVERYTHING`: the hub itself (sync, rules), the `province` role and the province's
  `inspector`.
- `RegionScope`: the `regency` role, and an `inspector` of one Pemda: rows of one Pemda (a
  province code: and its regencies).
- `OpdScope`: the `opd` role: rows of one OPD of one Pemda, and the procurement, contracts
  and payments that hang from its packages and sub kegiatan; the ketimpangan it was asked
  to explain, with their follow-up.
- `PUBLIC`: anonymous viewers: the published chain (plan, RUP, tenders, bids, contracts and
  their letters) and aggregates; no DPA lines, payments, monev reports, ketimpangan rows
  or follow-up.
Fields that are personal data (NPWP, payee names) are masked by the schema for the scopes
whose `sees_field` says so; a source's last error is the province's only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, false, or_, select


class RoutedEvent(Protocol):
    """What a scope filters a change event on (an outbox event has these): its GraphQL
    type, its Pemda and its OPD."""

    @property
    def entity(self) -> str: ...

    @property
    def region_code(self) -> str | None: ...

    @property
    def opd_code(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Scope:
    name: str

    def predicate(self, table: Table) -> ColumnElement[bool] | None:
        """The SQL condition a row of `table` must meet to be visible; None is no limit."""
        return None

    def sees_event(self, event: RoutedEvent) -> bool:
        """Whether a change event (its routing: entity, Pemda, OPD) is for this viewer."""
        return True

    def sees_field(self, name: str) -> bool:
        """Whether a masked field ("Vendor.taxId", "Payment.payee") is shown."""
        return True

    def sees_entity(self, entity: str) -> bool:
        """Whether change events of GraphQL type `entity` can reach this viewer at all (a
        subscription to none of them is refused rather than left silent)."""
        return True

    @property
    def cache_key(self) -> str:
        """Equal for viewers that see the same rows (used to share rendered events)."""
        return self.name


EVERYTHING = Scope("everything")


def _t(name: str) -> Table:
    from hub.store.relations import T

    return T[name]


def _region_ids(code: str) -> Any:
    region = _t("region")
    return select(region.c.id).where(or_(region.c.code == code, region.c.parent_code == code))


# Tables carrying region_id directly.
_REGIONAL = {
    "opd",
    "program",
    "activity",
    "sub_activity",
    "indicator",
    "budget_line",
    "payment",
    "procurement_package",
    "tender",
    "contract",
    "contract_amendment",
    "progress_report",
    "discrepancy",
    "follow_up",
    "letter",
}
_UNRESTRICTED = {"vendor", "source"}
# Seen by the province only: a source's last error can name hosts, users, databases and
# files of any Pemda's systems, whoever owns the source.
_PROVINCE_ONLY = frozenset({"Source.lastError"})


@dataclass(frozen=True, slots=True)
class RegionScope(Scope):
    region_code: str = ""

    def predicate(self, table: Table) -> ColumnElement[bool] | None:
        name = table.name
        ids = _region_ids(self.region_code)
        if name in _UNRESTRICTED:
            return None
        if name == "region":
            return table.c.id.in_(ids)
        if name in _REGIONAL:
            return table.c.region_id.in_(ids)
        if name == "package_budget_row":
            package = _t("procurement_package")
            return table.c.package_id.in_(select(package.c.id).where(package.c.region_id.in_(ids)))
        if name == "package_version":
            package = _t("procurement_package")
            return table.c.rup_code.in_(
                select(package.c.rup_code).where(package.c.region_id.in_(ids))
            )
        if name == "tender_schedule":
            tender = _t("tender")
            return table.c.tender_code.in_(select(tender.c.code).where(tender.c.region_id.in_(ids)))
        if name in ("tender_package", "bid"):
            tender = _t("tender")
            return table.c.tender_code.in_(select(tender.c.code).where(tender.c.region_id.in_(ids)))
        if name == "sub_activity_rollup":
            sa = _t("sub_activity")
            return table.c.sub_activity_id.in_(select(sa.c.id).where(sa.c.region_id.in_(ids)))
        if name == "follow_up_action":
            follow_up = _t("follow_up")
            return table.c.follow_up_id.in_(
                select(follow_up.c.id).where(follow_up.c.region_id.in_(ids))
            )
        return false()  # anything not listed is not for this viewer

    def sees_event(self, event: RoutedEvent) -> bool:
        code = event.region_code
        if code is None:
            return event.entity in ("Vendor", "Source")
        return code == self.region_code or code.startswith(self.region_code + ".")

    def sees_field(self, name: str) -> bool:
        return name not in _PROVINCE_ONLY

    @property
    def cache_key(self) -> str:
        return f"region:{self.region_code}"


@dataclass(frozen=True, slots=True)
class OpdScope(Scope):
    region_code: str = ""
    opd_code: str = ""

    def _opd_ids(self) -> Any:
        opd, region = _t("opd"), _t("region")
        return select(opd.c.id).where(
            opd.c.code == self.opd_code,
            opd.c.region_id
            == select(region.c.id).where(region.c.code == self.region_code).scalar_subquery(),
        )

    def _sub_activities(self) -> Any:
        sa = _t("sub_activity")
        return select(sa.c.id).where(sa.c.opd_id.in_(self._opd_ids()))

    def _packages(self) -> Any:
        package = _t("procurement_package")
        return select(package.c.id).where(package.c.opd_id.in_(self._opd_ids()))

    def _tender_codes(self) -> Any:
        link, package = _t("tender_package"), _t("procurement_package")
        return (
            select(link.c.tender_code)
            .join(package, package.c.rup_code == link.c.rup_code)
            .where(package.c.opd_id.in_(self._opd_ids()))
        )

    def _contracts(self) -> Any:
        contract = _t("contract")
        return select(contract.c.id).where(
            or_(
                contract.c.sub_activity_id.in_(self._sub_activities()),
                contract.c.tender_code.in_(self._tender_codes()),
            )
        )

    def predicate(self, table: Table) -> ColumnElement[bool] | None:
        name = table.name
        region = _t("region")
        if name in _UNRESTRICTED:
            return None
        if name == "region":
            return table.c.code == self.region_code
        if name == "opd":
            return table.c.id.in_(self._opd_ids())
        if name in ("program", "activity"):  # the plan's codes and names of its Pemda
            return table.c.region_id.in_(
                select(region.c.id).where(region.c.code == self.region_code)
            )
        if name in ("sub_activity", "procurement_package", "follow_up"):
            return table.c.opd_id.in_(self._opd_ids())
        if name == "discrepancy":  # its own, and those it was asked to explain
            follow_up = _t("follow_up")
            return or_(
                table.c.opd_id.in_(self._opd_ids()),
                table.c.id.in_(
                    select(follow_up.c.discrepancy_id).where(
                        follow_up.c.opd_id.in_(self._opd_ids())
                    )
                ),
            )
        if name == "follow_up_action":
            follow_up = _t("follow_up")
            return table.c.follow_up_id.in_(
                select(follow_up.c.id).where(follow_up.c.opd_id.in_(self._opd_ids()))
            )
        if name in ("indicator", "budget_line", "payment", "progress_report"):
            return table.c.sub_activity_id.in_(self._sub_activities())
        if name == "sub_activity_rollup":
            return table.c.sub_activity_id.in_(self._sub_activities())
        if name == "package_budget_row":
            return table.c.package_id.in_(self._packages())
        if name == "package_version":
            package = _t("procurement_package")
            return table.c.rup_code.in_(
                select(package.c.rup_code).where(package.c.opd_id.in_(self._opd_ids()))
            )
        if name in ("tender", "tender_package", "bid", "tender_schedule"):
            column = table.c.code if name == "tender" else table.c.tender_code
            return column.in_(self._tender_codes())
        if name == "contract":
            return table.c.id.in_(self._contracts())
        if name == "contract_amendment":
            return table.c.contract_id.in_(self._contracts())
        if name == "letter":  # the letters of its contracts and tenders
            return or_(
                table.c.contract_id.in_(self._contracts()),
                table.c.tender_code.in_(self._tender_codes()),
            )
        return false()

    def sees_event(self, event: RoutedEvent) -> bool:
        if event.region_code is None:
            return event.entity in ("Vendor", "Source")
        if event.opd_code is None and getattr(event, "op", None) == "LOADED":
            return event.region_code == self.region_code  # a baseline of its Pemda: re-query
        return event.region_code == self.region_code and event.opd_code == self.opd_code

    def sees_field(self, name: str) -> bool:
        return name not in _PROVINCE_ONLY

    @property
    def cache_key(self) -> str:
        return f"opd:{self.region_code}/{self.opd_code}"


_PUBLIC_TABLES = {
    "region",
    "opd",
    "program",
    "activity",
    "sub_activity",
    "sub_activity_rollup",
    "indicator",
    "procurement_package",
    "package_budget_row",
    "package_version",
    "tender",
    "tender_package",
    "tender_schedule",
    "bid",
    "contract",
    "contract_amendment",
    "letter",
    "vendor",
    "source",
}
_PUBLIC_EVENTS = {
    "Region",
    "Opd",
    "Program",
    "Activity",
    "SubActivity",
    "Indicator",
    "ProcurementPackage",
    "Tender",
    "Bid",
    "Contract",
    "ContractAmendment",
    "Letter",
    "Vendor",
}
_MASKED = frozenset({"Vendor.taxId", "Payment.payee", "Source.lastError"})


@dataclass(frozen=True, slots=True)
class PublicScope(Scope):
    masked: frozenset[str] = field(default=_MASKED)

    def predicate(self, table: Table) -> ColumnElement[bool] | None:
        if table.name == "letter":  # as public as the contract or tender it names; none:
            # an internal letter (an invitation, a memo), not the public's
            return or_(table.c.contract_id.is_not(None), table.c.tender_id.is_not(None))
        return None if table.name in _PUBLIC_TABLES else false()

    def sees_event(self, event: RoutedEvent) -> bool:
        return event.entity in _PUBLIC_EVENTS

    def sees_entity(self, entity: str) -> bool:
        return entity in _PUBLIC_EVENTS

    def sees_field(self, name: str) -> bool:
        return name not in self.masked


PUBLIC = PublicScope("public")
