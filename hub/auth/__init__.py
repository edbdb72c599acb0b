"""Who is asking: API keys and JWT bearer tokens become a `Viewer` with a role and a scope.

Roles: `province` (everything), `regency` (its Pemda), `opd` (its OPD), and the anonymous
`public` viewer (the published chain and aggregates). See docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.store.scope import EVERYTHING, PUBLIC, OpdScope, RegionScope, Scope


class Role(StrEnum):
    PROVINCE = "province"
    REGENCY = "regency"
    OPD = "opd"
    PUBLIC = "public"


class AuthError(Exception):
    """A credential was sent but is not valid (unknown, revoked, expired, malformed)."""


@dataclass(frozen=True)
class Viewer:
    role: Role
    actor: str  # "key:<prefix>", "jwt:<sub>", "anonymous", "hub"
    region_code: str | None = None
    opd_code: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.actor != "anonymous"

    @property
    def scope(self) -> Scope:
        if self.role is Role.PROVINCE:
            return EVERYTHING
        if self.role is Role.REGENCY:
            assert self.region_code is not None
            return RegionScope(f"region:{self.region_code}", region_code=self.region_code)
        if self.role is Role.OPD:
            assert self.region_code is not None
            assert self.opd_code is not None
            return OpdScope(
                f"opd:{self.region_code}/{self.opd_code}",
                region_code=self.region_code,
                opd_code=self.opd_code,
            )
        return PUBLIC


def check_role(role: str, region_code: str | None, opd_code: str | None) -> Role:
    """The role, if the region/OPD it needs are given (and nothing it does not need)."""
    try:
        parsed = Role(role)
    except ValueError:
        raise AuthError(
            f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}"
        ) from None
    if parsed is Role.REGENCY and (not region_code or opd_code):
        raise AuthError("role regency needs --region CODE (and no --opd)")
    if parsed is Role.OPD and (not region_code or not opd_code):
        raise AuthError("role opd needs --region CODE and --opd CODE")
    if parsed in (Role.PROVINCE, Role.PUBLIC) and (region_code or opd_code):
        raise AuthError(f"role {parsed.value} takes no --region or --opd")
    return parsed


ANONYMOUS = Viewer(Role.PUBLIC, "anonymous")
INTERNAL = Viewer(Role.PROVINCE, "hub")
