"""Who is asking: API keys and JWT bearer tokens become a `Viewer` with a role and a scope.

Roles: `province` (everything), `inspector` (the Inspektorat: the province, or one Pemda
with a region; it assigns and reviews the follow-up of ketimpangan), `regency` (its Pemda),
`opd` (its OPD), the anonymous
`public` viewer (the published chain and aggregates), `metrics` (a monitoring system:
/metrics from anywhere, and the public's view of the data), and `admin`, the operator:
everything a province sees plus the operators' console (keys, audit log, sources, "sync
now"). Admin keys are made only on the command line. See docs/security.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.store.scope import EVERYTHING, PUBLIC, OpdScope, RegionScope, Scope


class Role(StrEnum):
    PROVINCE = "province"
    INSPECTOR = "inspector"
    REGENCY = "regency"
    OPD = "opd"
    PUBLIC = "public"
    METRICS = "metrics"
    ADMIN = "admin"


class AuthError(Exception):
    """A credential was sent but is not valid (unknown, revoked, expired, malformed)."""


@dataclass(frozen=True)
class Viewer:
    role: Role
    actor: str  # "key:<prefix>", "jwt:<sub>", "anonymous", "hub"
    region_code: str | None = None
    opd_code: str | None = None
    expires_at: float | None = None  # a token's `exp` (epoch seconds); keys do not expire
    feed_only: bool = False  # a feed token: the agenda's iCalendar feed, nothing else

    @property
    def authenticated(self) -> bool:
        return self.actor != "anonymous"

    @property
    def scope(self) -> Scope:
        if self.role in (Role.PROVINCE, Role.ADMIN):
            return EVERYTHING
        if self.role is Role.INSPECTOR:
            if self.region_code is None:
                return EVERYTHING
            return RegionScope(f"region:{self.region_code}", region_code=self.region_code)
        if self.role is Role.REGENCY and self.region_code is not None:
            return RegionScope(f"region:{self.region_code}", region_code=self.region_code)
        if self.role is Role.OPD and self.region_code is not None and self.opd_code is not None:
            return OpdScope(
                f"opd:{self.region_code}/{self.opd_code}",
                region_code=self.region_code,
                opd_code=self.opd_code,
            )
        return PUBLIC


# Kemendagri region codes ("53", "53.71") and OPD codes ("1.02.0.00.0.00.01.0000").
REGION_CODE = re.compile(r"^[0-9]{2}(\.[0-9]{2})?$")
OPD_CODE = re.compile(r"^[0-9A-Za-z]{1,8}(\.[0-9A-Za-z]{1,8}){0,9}$")


def check_role(role: Any, region_code: Any, opd_code: Any) -> Role:
    """The role, if the region/OPD it needs are given (and nothing it does not need), each
    a string of its code's shape: a token's claims are checked here, so a number or a list
    in `region` never reaches the scope (it once stopped the shared change feed)."""
    if not isinstance(role, str):
        raise AuthError("the role must be a string")
    if region_code is not None and (
        not isinstance(region_code, str) or not REGION_CODE.fullmatch(region_code)
    ):
        raise AuthError(f"{region_code!r} is not a Kemendagri region code such as 53.71")
    if opd_code is not None and (not isinstance(opd_code, str) or not OPD_CODE.fullmatch(opd_code)):
        raise AuthError(f"{opd_code!r} is not an OPD code such as 1.02.0.00.0.00.01.0000")
    try:
        parsed = Role(role)
    except ValueError:
        raise AuthError(
            f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}"
        ) from None
    if parsed is Role.REGENCY and (not region_code or opd_code):
        raise AuthError("role regency needs --region CODE (and no --opd)")
    if parsed is Role.INSPECTOR and opd_code:
        raise AuthError("role inspector takes --region CODE or nothing (the province), no --opd")
    if parsed is Role.OPD and (not region_code or not opd_code):
        raise AuthError("role opd needs --region CODE and --opd CODE")
    if parsed in (Role.PROVINCE, Role.PUBLIC, Role.METRICS, Role.ADMIN) and (
        region_code or opd_code
    ):
        raise AuthError(f"role {parsed.value} takes no --region or --opd")
    return parsed


ANONYMOUS = Viewer(Role.PUBLIC, "anonymous")
INTERNAL = Viewer(Role.PROVINCE, "hub")
