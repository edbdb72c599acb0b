"""JWT bearer tokens: HS256 with a shared secret, or RS256 with keys from a JWKS file.

Claims: `role` (province, inspector, regency, opd, public), `region` and `opd` as the role
needs, `sub` (required: who, written to the audit log), `exp` (required). `iss`/`aud` are
checked when configured.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from hub.auth import AuthError, Role, Viewer, check_role

MAX_LIFETIME_SECONDS = 24 * 3600  # the furthest `exp` accepted, from now


@dataclass
class TokenVerifier:
    hs256_secret: str | None = None
    jwks: jwt.PyJWKSet | None = None
    issuer: str | None = None
    audience: str | None = None
    max_lifetime: float = MAX_LIFETIME_SECONDS

    @classmethod
    def from_settings(
        cls,
        secret: str | None,
        jwks_file: Path | None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> TokenVerifier | None:
        if not secret and jwks_file is None:
            return None
        jwks = None
        if jwks_file is not None:
            jwks = jwt.PyJWKSet.from_json(Path(jwks_file).read_text(encoding="utf-8"))
        return cls(secret or None, jwks, issuer, audience)

    def verify(self, token: str) -> Viewer:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed bearer token: {exc}") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256" and self.hs256_secret:
            key = self.hs256_secret
        elif algorithm == "RS256" and self.jwks is not None:
            kid = header.get("kid")
            keys = [k for k in self.jwks.keys if kid is None or k.key_id == kid]
            if not keys:
                raise AuthError(f"no key {kid!r} in the configured JWKS")
            key = keys[0].key
        else:
            raise AuthError(f"tokens signed with {algorithm!r} are not accepted here")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "role"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid bearer token: {exc}") from None
        region, opd = claims.get("region"), claims.get("opd")
        role = check_role(claims["role"], region, opd)
        if role is Role.ADMIN:  # the operator's power comes only from a key made on the CLI
            raise AuthError("bearer tokens cannot carry the admin role; use an admin API key")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            # Who: the audit log's actor and the rate limit's bucket, never one shared "?".
            raise AuthError("the token needs a `sub`, a non-empty string")
        expires = claims["exp"]
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise AuthError("the token's `exp` must be a number")
        if expires > time.time() + self.max_lifetime:
            # A token that never expires cannot be taken back short of changing the secret.
            hours = self.max_lifetime / 3600
            raise AuthError(f"the token's `exp` is more than {hours:g} h ahead")
        return Viewer(role, f"jwt:{subject}", region, opd, float(expires))


def jwks_of_public_key(pem: bytes, kid: str) -> str:
    """A JWKS document for one RSA public key (for tests and operators)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public = load_pem_public_key(pem)
    if not isinstance(public, RSAPublicKey):
        raise ValueError(f"an RSA public key is needed, not {type(public).__name__}")
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return json.dumps({"keys": [jwk]})
