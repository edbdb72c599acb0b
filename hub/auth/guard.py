"""The door of every request: who is asking (API key, bearer token or nobody), whether
they are within their rate, and the audit record of what an authenticated caller did.

Both transports authenticate here, the same way, at their edge: HTTP per request, the
WebSocket at `connection_init` and again on every operation and while a subscription runs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth import ANONYMOUS, AuthError, Role, Viewer, keys
from hub.auth.audit import append
from hub.auth.tokens import TokenVerifier
from hub.db import driver_connection
from hub.errors import StoreUnavailableError, as_store_unavailable
from hub.settings import Settings

log = logging.getLogger("rantai.auth")


class AuthThrottled(AuthError):
    """Too many failed credentials from one address: refused before any lookup."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed credentials from this address; try again later")
        self.retry_after = retry_after


class TokenBuckets:
    """Token buckets per caller: `capacity` at most, refilled at `per_minute`."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, caller: str, *, take: bool = True) -> float | None:
        """None if `caller` has a token now (taken unless `take` is false), else the seconds
        until it has one."""
        now = time.monotonic()
        tokens, last = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[caller] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[caller] = (tokens - 1 if take else tokens, now)
        if len(self._buckets) > 100_000:  # forget idle callers
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
        return None

    def charge(self, caller: str, tokens: float) -> None:
        """Take `tokens` more from `caller` (down to one minute's worth of debt); a negative
        number gives tokens back."""
        now = time.monotonic()
        have, last = self._buckets.get(caller, (self.capacity, now))
        have = min(self.capacity, have + (now - last) * self.rate)
        self._buckets[caller] = (min(self.capacity, max(-self.capacity, have - tokens)), now)


class Gatekeeper:
    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.verifier = TokenVerifier.from_settings(
            settings.jwt_secret, settings.jwt_jwks_file, settings.jwt_issuer, settings.jwt_audience
        )
        self._requests = TokenBuckets(settings.rate_limit_per_minute)
        self._failures = TokenBuckets(settings.auth_failures_per_minute)

    async def authenticate(
        self, authorization: str | None, client: str, *, feed: bool = False
    ) -> Viewer:
        """The viewer of an `Authorization` value sent from address `client`; ANONYMOUS
        without one. AuthError when a credential is sent but is not valid: it is never
        silently treated as anonymous. Failures count per address: past
        `RANTAI_AUTH_FAILURES_PER_MINUTE`, AuthThrottled, before any lookup in the store."""
        if authorization is None or not authorization.strip():
            return await self.viewer(authorization, feed=feed)
        # The attempt counts as a failure while its lookup runs, and is given back when it
        # succeeds: concurrent guesses cannot all start before the first one fails.
        wait = self._failures.wait(client)
        if wait is not None:
            raise AuthThrottled(wait)
        try:
            viewer = await self.viewer(authorization, feed=feed)
        except AuthError as exc:
            log.warning("failed credential from %s: %s", client, exc)
            raise
        except BaseException:
            self._failures.charge(client, -1)  # the store failed, not the credential
            raise
        self._failures.charge(client, -1)
        return viewer

    async def viewer(self, authorization: str | None, *, feed: bool = False) -> Viewer:
        """The viewer of an `Authorization` value, unthrottled (authenticate() is the door).
        A feed token (`feed_only`) is refused everywhere but the agenda feed (`feed`), which
        takes nothing else."""
        if authorization is None or not authorization.strip():
            if self.settings.dev_anonymous_role == "province" and not self.settings.production:
                return Viewer(Role.PROVINCE, "anonymous")
            return ANONYMOUS
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthError("send credentials as `Authorization: Bearer <API key or token>`")
        parsed = keys.parse(credential)
        if parsed is not None:
            prefix, secret = parsed
            # A store that is down is StoreUnavailableError (503 STORE_UNAVAILABLE, or
            # close 1013 on a socket), not a bare 500: bench/faults.py restarts it.
            with as_store_unavailable():
                async with self.engine.connect() as conn:
                    row = (
                        (
                            await conn.execute(
                                text(
                                    "SELECT prefix, secret_hash, role, region_code, opd_code, "
                                    "revoked_at, feed_only FROM api_key WHERE prefix = :prefix"
                                ),
                                {"prefix": prefix},
                            )
                        )
                        .mappings()
                        .first()
                    )
            viewer = keys.viewer_of(row, self.settings.secret_key, secret)
            if viewer.feed_only and not feed:
                raise AuthError("this key is a feed token: it reads /agenda/….ics only")
            if feed and not viewer.feed_only:
                # An ordinary key in a URL would be kept in logs and calendars; never here.
                raise AuthError("an agenda feed takes a feed token (rantai keys create --feed)")
            return viewer
        if feed:
            raise AuthError("an agenda feed takes a feed token (rantai keys create --feed)")
        if credential.startswith("rk_"):
            raise AuthError("malformed API key")
        if self.verifier is None:
            raise AuthError(
                "bearer tokens are not accepted here (no RANTAI_JWT_SECRET or "
                "RANTAI_JWT_JWKS_FILE); use an API key"
            )
        return self.verifier.verify(credential)

    def retry_after(self, caller: str) -> float | None:
        """None if `caller` may make a request now (and counts it), else seconds to wait."""
        return self._requests.wait(caller)

    def charge(self, caller: str, cpu_seconds: float) -> None:
        """Work done for `caller` beyond an ordinary request (parsing and validating a
        document it has not sent before, past the first 20 ms of CPU, which any real
        document stays under) counts as one more request per 10 ms: distinct heavy
        documents cannot buy more CPU than the rate limit allows."""
        extra = (cpu_seconds - 0.02) / 0.01
        if extra >= 1:
            self._requests.charge(caller, extra)

    async def audit(self, viewer: Viewer, kind: str, detail: dict[str, Any]) -> None:
        """Record what an authenticated caller did (anonymous requests are not recorded)."""
        if not viewer.authenticated:
            return
        with as_store_unavailable():
            async with driver_connection(self.engine) as driver:
                try:
                    await append(driver, self.settings.secret_key, kind, viewer.actor, detail)
                except Exception as exc:
                    # A restart can also surface as asyncpg's InternalClientError on a
                    # connection it closed (driver_connection drops it from the pool).
                    if driver.is_closed():
                        raise StoreUnavailableError() from exc
                    raise


def document_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()
