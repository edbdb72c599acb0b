"""The root Mutation: what clients may change, each mutation run by
`resolvers.mutations.mutate` (roles, one transaction, audit, idempotency).

Adding one: a function in resolvers/ that returns `Work` (the change on a connection and
its `Change`: answer, audit kind and detail, wake-ups), a field here with `roles(...)` in
its metadata, an `idempotency_key` argument, and a payload type; then print the schema
again. docs/architecture.md (decision 36) says more.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from hub.auth import Role
from resolvers import admin as admin_resolve
from resolvers.mutations import mutate
from schema.admin import ApiKey, Info, SyncRequest, roles
from schema.mutation_followup import FollowUpMutations

IDEMPOTENCY = (
    "Kunci idempotensi: a retry with the same key and input (within a day) returns the "
    "first answer and changes nothing; the same key with another input is "
    "IDEMPOTENCY_KEY_REUSED."
)


@strawberry.input(description="Kunci API baru (never admin: those are made on the CLI).")
class CreateApiKeyInput:
    role: str = strawberry.field(description="province, inspector, regency, opd or public.")
    region_code: str | None = strawberry.field(
        default=None, description="Kode Pemda (regency and opd roles)."
    )
    opd_code: str | None = strawberry.field(default=None, description="Kode OPD (opd role).")
    label: str | None = strawberry.field(default=None, description="Who or what it is for.")


@strawberry.type(description="A new API key: the key itself is shown only in this answer.")
class CreateApiKeyPayload:
    key: str = strawberry.field(description="Kunci API: store it now, it is not shown again.")
    api_key: ApiKey = strawberry.field(description="The key as listed (prefix, role, scope).")


@strawberry.type(description="A revoked key: it stopped working at once, in every process.")
class RevokeApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The key, with its revokedAt.")


@strawberry.type(description='"Sync now" recorded; the sync loop takes it at once.')
class RequestSyncPayload:
    request: SyncRequest = strawberry.field(description="The request (or the one waiting).")
    new: bool = strawberry.field(
        description="False when the same request was already waiting: it was not doubled."
    )


IdempotencyKey = Annotated[str | None, strawberry.argument(description=IDEMPOTENCY)]
ADMIN = roles(Role.ADMIN)


@strawberry.type(description="Perubahan: what operators and clients may change.")
class Mutation(FollowUpMutations):
    @strawberry.mutation(description="Make an API key (admin).", metadata=ADMIN)
    async def create_api_key(
        self,
        info: Info,
        input: CreateApiKeyInput,
        idempotency_key: IdempotencyKey = None,
    ) -> CreateApiKeyPayload:
        ctx = info.context
        arguments = {
            "role": input.role, "regionCode": input.region_code, "opdCode": input.opd_code,
            "label": input.label,
        }  # fmt: skip
        work = admin_resolve.create_key(
            ctx, input.role, input.region_code, input.opd_code, input.label
        )
        result = await mutate(
            ctx, "createApiKey", arguments, work, roles=ADMIN["rantai_roles"],
            idempotency_key=idempotency_key,
        )  # fmt: skip
        row = await admin_resolve.key_row(ctx, result["prefix"])
        return CreateApiKeyPayload(key=result["key"], api_key=ApiKey.from_row(row))

    @strawberry.mutation(description="Revoke an API key (admin).", metadata=ADMIN)
    async def revoke_api_key(
        self,
        info: Info,
        prefix: Annotated[str, strawberry.argument(description="rk_xxxxxxxx, or the key itself.")],
        idempotency_key: IdempotencyKey = None,
    ) -> RevokeApiKeyPayload:
        ctx = info.context
        work = admin_resolve.revoke_key(ctx, prefix)
        result = await mutate(
            ctx, "revokeApiKey", {"prefix": prefix}, work, roles=ADMIN["rantai_roles"],
            idempotency_key=idempotency_key,
        )  # fmt: skip
        row = await admin_resolve.key_row(ctx, result["prefix"])
        return RevokeApiKeyPayload(api_key=ApiKey.from_row(row))

    @strawberry.mutation(
        description="Sinkron sekarang: sync one source (or every source) now (admin). Needs "
        "a process running the sync loop (rantai serve --sync-every, rantai demo).",
        metadata=ADMIN,
    )
    async def request_sync(
        self,
        info: Info,
        source_id: Annotated[
            str | None, strawberry.argument(description="Source id; null: every source.")
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RequestSyncPayload:
        ctx = info.context
        work = admin_resolve.request_sync(ctx, source_id)
        result = await mutate(
            ctx, "requestSync", {"sourceId": source_id}, work, roles=ADMIN["rantai_roles"],
            idempotency_key=idempotency_key,
        )  # fmt: skip
        row = await admin_resolve.sync_request_row(ctx, int(result["id"]))
        return RequestSyncPayload(request=SyncRequest.from_row(row), new=bool(result["new"]))
