"""The one request path: a parsed request and its viewer in, the answer out.

HTTP (`hub/serving/http.py`) and WebSocket (`hub/serving/ws.py`) only parse their framing,
authenticate at their edge (`Gatekeeper.authenticate`) and frame what `Api.handle` answers.
Everything else happens here, in this order, the same for both: the rate limit, trusted
documents, the variables' shape, parse and validation with the static limits (cached), the
operation's transport rules, the cost, then execution (the compiled path first for queries,
else the resolvers, within the time limit; or the subscription's stream), the audit record
of an authenticated caller (refusals included), and error formatting and masking.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth import Viewer
from hub.auth.guard import Gatekeeper, document_hash
from hub.errors import ErrorCode, StoreUnavailableError, TimedOut, error_entry
from hub.serving.compiled import CompiledQueries
from hub.serving.documents import Documents, check_variables, cost_exceeded
from hub.serving.live import Operation, Stream, StreamFailed, Subscriptions
from hub.serving.responses import error_body, format_result, log_errors
from hub.serving.visibility import forbidden_root, hidden_paths, viewer_extension
from hub.settings import Settings
from hub.store.replicas import ReadReplicas
from hub.telemetry import metrics, tracing
from resolvers.context import Context, Process

log = logging.getLogger("rantai.request")
requests_log = logging.getLogger("rantai.requests")  # one line per operation (JSON logs)


class Transport(StrEnum):
    HTTP = "http"
    WEBSOCKET = "websocket"
    SSE = "sse"  # Server-Sent Events, /graphql/stream
    EXPORT = "export"  # the open-data documents and downloads, page by page (opendata/)


@dataclass(frozen=True)
class GraphQLRequest:
    """One operation as a transport received it, its framing already checked."""

    query: str | None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None
    document_id: str | None = None
    transport: Transport = Transport.HTTP
    http_method: str | None = None  # GET or POST over HTTP
    client: str = "?"  # the caller's address
    open_operations: int = 0  # the connection's operations already running (WebSocket)

    @classmethod
    def from_params(
        cls,
        params: dict[str, Any],
        transport: Transport,
        *,
        http_method: str | None = None,
        client: str = "?",
    ) -> GraphQLRequest | Answer:
        """The request of a GraphQL-over-HTTP parameter object (also the payload of a
        WebSocket `subscribe`), or the BAD_REQUEST answer naming the member that is wrong."""
        query, variables = params.get("query"), params.get("variables")
        operation_name, extensions = params.get("operationName"), params.get("extensions")
        document_id = params.get("documentId")
        problem = None
        if query is not None and not isinstance(query, str):
            problem = "`query` must be a string."
        elif variables is not None and not isinstance(variables, dict):
            problem = "`variables` must be a JSON object."
        elif operation_name is not None and not isinstance(operation_name, str):
            problem = "`operationName` must be a string."
        elif extensions is not None and not isinstance(extensions, dict):
            problem = "`extensions` must be a JSON object."
        elif document_id is not None and not isinstance(document_id, str):
            problem = "`documentId` must be a string."
        if problem is not None:
            return Answer.refused(ErrorCode.BAD_REQUEST, problem, 400)
        return cls(
            query, variables, operation_name, extensions, document_id, transport, http_method,
            client,
        )  # fmt: skip


@dataclass
class Answer:
    """What the request path answers: a body (a result, or a refusal before execution), or
    a subscription's stream. `status` is the HTTP status when the request path decides it
    (a refusal's, a timeout's); otherwise the transport chooses (GraphQL-over-HTTP's rules
    depend on the media type)."""

    body: dict[str, Any] = field(default_factory=dict)
    executed: bool = False
    status: int | None = None
    headers: dict[str, str] | None = None
    stream: Stream | None = None
    stream_failed: bool = False  # a subscription valid as a document that could not start

    @classmethod
    def refused(
        cls, code: ErrorCode, message: str, status: int | None = None, **headers: str
    ) -> Answer:
        return cls(error_body(code, message), False, status, headers or None)

    @property
    def code(self) -> str:
        """The first error's code, or "ok"."""
        errors = self.body.get("errors") or ()
        return str(errors[0]["extensions"]["code"]) if errors else "ok"


class TrustedDocumentRequired(Exception):
    pass


class Api:
    """The GraphQL API of one process: every operation of every transport passes `handle`."""

    def __init__(
        self,
        settings: Settings,
        schema: strawberry.Schema,
        engine: AsyncEngine,
        gate: Gatekeeper,
        documents: Documents,
        subscriptions: Subscriptions,
        compiled: CompiledQueries | None = None,
        trusted: dict[str, str] | None = None,
        replicas: ReadReplicas | None = None,
        process: Process | None = None,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.engine = engine
        self.gate = gate
        self.documents = documents
        self.subscriptions = subscriptions
        self.compiled = compiled
        self.trusted = trusted
        self.replicas = replicas
        self.log_requests = settings.log_format == "json"
        self.process = process or Process()

    async def handle(self, request: GraphQLRequest, viewer: Viewer) -> Answer:
        """The answer to one operation; each is counted, timed, traced and (JSON logs)
        logged by its operation name, transport, viewer role and outcome."""
        started = time.perf_counter()
        audit = _Audit(request, viewer)
        with tracing.tracer().start_as_current_span("graphql.request") as span:
            answer = await self._handle(request, viewer, audit)
            operation = request.operation_name or audit.operation or audit.named
            span.set_attributes(
                {
                    "graphql.operation.name": operation or "",
                    "graphql.operation.type": audit.kind,
                    "rantai.transport": str(request.transport),
                    "rantai.viewer.role": str(viewer.role),
                    "rantai.outcome": answer.code,
                }
            )
        seconds = time.perf_counter() - started
        label = metrics.operation_label(operation)
        transport = str(request.transport)
        metrics.REQUESTS.labels(label, transport, answer.code).inc()
        metrics.REQUEST_SECONDS.labels(label, transport).observe(seconds)
        if self.log_requests:
            requests_log.info(
                "request",
                extra={
                    "fields": {
                        "operation": operation,
                        "kind": audit.kind,
                        "transport": transport,
                        "role": str(viewer.role),
                        "actor": viewer.actor.split(":", 1)[0],  # never the key itself
                        "duration_ms": round(seconds * 1000, 3),
                        "outcome": answer.code,
                        "errors": len(answer.body.get("errors") or ()),
                    }
                },
            )
        return answer

    async def _handle(self, request: GraphQLRequest, viewer: Viewer, audit: _Audit) -> Answer:
        caller = viewer.actor if viewer.authenticated else f"ip:{request.client}"
        wait = self.gate.retry_after(caller)
        if wait is not None:
            seconds = str(math.ceil(wait))
            return told(
                Answer.refused(
                    ErrorCode.RATE_LIMITED,
                    f"Too many requests; try again in {seconds} s.",
                    429,
                    **{"Retry-After": seconds},
                ),
                viewer,
            )
        answer = told(await self._answer(request, viewer, audit, caller), viewer)
        if viewer.authenticated:
            try:
                await self.gate.audit(viewer, audit.kind, audit.detail(answer))
            except StoreUnavailableError as exc:
                if answer.stream is not None:
                    await answer.stream.aclose()
                return Answer.refused(ErrorCode.STORE_UNAVAILABLE, str(exc), 503)
        return answer

    async def _answer(
        self, request: GraphQLRequest, viewer: Viewer, audit: _Audit, caller: str
    ) -> Answer:
        settings = self.settings
        limit = settings.ws_max_subscriptions
        if request.open_operations >= limit:  # before any parsing: a flood costs nothing
            return Answer.refused(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"At most {limit} operations at once on one connection.",
            )
        try:
            query = self._document(request)
        except TrustedDocumentRequired as error:
            return Answer.refused(ErrorCode.TRUSTED_DOCUMENT_REQUIRED, str(error), 400)
        if not isinstance(query, str) or not query.strip():
            return Answer.refused(
                ErrorCode.BAD_REQUEST,
                "Send the GraphQL document as a non-empty string in `query`.",
                400,
            )
        audit.document = document_hash(query)
        problem = check_variables(request.variables, self.documents.limits)
        if problem is not None:
            return _not_executed([problem])
        production = settings.production
        started = time.thread_time()  # CPU time: a busy machine does not charge the caller
        prepared = self.documents.get(
            query,
            introspection=not (production and not viewer.authenticated),
            suggestions=not production,
        )
        self.gate.charge(caller, time.thread_time() - started)
        kind = prepared.operation_type(request.operation_name)
        if len(prepared.operations) == 1:  # its name, for the metrics, even if it fails
            audit.named = next(iter(prepared.operations))
        refusal = self._transport_rule(request, kind)
        if refusal is not None:
            return refusal
        if prepared.document is None:
            return _not_executed(prepared.errors)
        operation = get_operation_ast(prepared.document, request.operation_name)
        if operation is None:
            message = (
                f"No operation named {request.operation_name!r} in the document."
                if request.operation_name
                else "The document has several operations: name one in `operationName`."
            )
            return Answer.refused(ErrorCode.BAD_REQUEST, message, 400)
        audit.operation = request.operation_name or (
            operation.name.value if operation.name else None
        )
        audit.kind = "subscribe" if operation.operation is OperationType.SUBSCRIPTION else "request"
        refused = forbidden_root(self.schema._schema, prepared, operation, viewer)
        if refused is not None:
            name, allowed = refused
            needed = " or ".join(sorted(role.value for role in allowed))
            return Answer.refused(
                ErrorCode.FORBIDDEN, f"`{name}` needs an API key of role {needed}.", 403
            )
        variables = request.variables or {}
        cost = self.documents.cost(prepared, request.operation_name, variables)
        if cost > self.settings.max_cost:
            return _not_executed([cost_exceeded(self.settings.max_cost)])
        if operation.operation is OperationType.SUBSCRIPTION:
            op = Operation(prepared, request.operation_name, variables, viewer, request.client)
            try:
                stream = await self.subscriptions.open(op)
            except StreamFailed as failed:
                return Answer({"errors": failed.errors}, executed=False, stream_failed=True)
            return Answer(executed=True, stream=stream)
        answer = await self._execute(prepared.document, operation, request, viewer, cost)
        hidden = hidden_paths(self.schema._schema, prepared, operation, viewer.scope)
        if hidden and answer.executed:
            answer.body.setdefault("extensions", {})["hidden"] = hidden
        return answer

    def _transport_rule(self, request: GraphQLRequest, kind: OperationType | None) -> Answer | None:
        """Subscriptions travel over WebSocket or Server-Sent Events; a GET runs queries
        only."""
        if (
            request.transport is Transport.SSE
            and kind is OperationType.MUTATION
            and request.http_method == "GET"
        ):
            answer = Answer.refused(ErrorCode.BAD_REQUEST, "Send mutations with POST.", 405)
            answer.headers = {"Allow": "POST"}
            return answer
        if request.transport is Transport.HTTP:
            if kind is OperationType.SUBSCRIPTION:
                status = 405 if request.http_method == "GET" else 400
                answer = Answer.refused(
                    ErrorCode.BAD_REQUEST,
                    "Subscriptions run over WebSocket (graphql-transport-ws) or Server-Sent "
                    "Events (graphql-sse, /graphql/stream), not plain HTTP.",
                    status,
                )
                if status == 405:
                    answer.headers = {"Allow": "POST"}
                return answer
            if kind is OperationType.MUTATION and request.http_method == "GET":
                answer = Answer.refused(ErrorCode.BAD_REQUEST, "Send mutations with POST.", 405)
                answer.headers = {"Allow": "POST"}
                return answer
        return None

    async def _execute(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        request: GraphQLRequest,
        viewer: Viewer,
        cost: int,
    ) -> Answer:
        settings = self.settings
        time_limit = settings.execution_timeout_seconds
        engine = self._reader(operation, viewer)
        result = None
        if self.compiled is not None:
            result = await self.compiled.answer(
                document, operation, request.variables, viewer.scope,
                time_limit=time_limit, engine=engine,
            )  # fmt: skip
        if (
            result is None
            and cost > settings.max_resolver_cost
            and request.transport is not Transport.EXPORT  # the hub's own, paged documents
        ):
            # The resolvers build every value as a Python object on the event loop: a
            # request this large would hold the whole process (decision 41).
            limit = settings.max_resolver_cost
            why = " through the resolvers (the compiled path does not answer this request)"
            return _not_executed([cost_exceeded(limit, why)])
        if result is None:
            context = Context.create(engine, settings, viewer=viewer, process=self.process)
            # The operation by name (the document's own when the request gave none): the
            # same operation for graphql-core, and a name for the log.
            name = request.operation_name or (operation.name.value if operation.name else None)
            result = await run(
                self.schema, document, context, request.variables, name,
                time_limit=time_limit, hide_suggestions=settings.production,
            )  # fmt: skip
        body, executed = format_result(result, mask=settings.production)
        timed_out = any(isinstance(e.original_error or e, TimedOut) for e in result.errors or ())
        return Answer(body, executed, 503 if timed_out else None)

    def _reader(self, operation: OperationDefinitionNode, viewer: Viewer) -> AsyncEngine:
        """Where this operation reads: a replica for queries, the primary for mutations and
        for a viewer who just wrote (so it reads its own writes)."""
        if self.replicas is None:
            return self.engine
        who = viewer.actor if viewer.authenticated else None
        if operation.operation is OperationType.MUTATION:
            if who is not None:
                self.replicas.pin(who)
            return self.engine
        return self.replicas.engine(viewer=who)

    def _document(self, request: GraphQLRequest) -> str | None:
        """The document to run. With trusted documents on, only a registered one, named by
        its sha256 (`documentId` or `extensions.persistedQuery.sha256Hash`, optionally
        "sha256:…") or sent as text whose hash is registered."""
        trusted = self.trusted
        if trusted is None or request.transport is Transport.EXPORT:
            # The open-data routes run the hub's own documents, never a client's text.
            return request.query
        extensions = request.extensions or {}
        persisted = extensions.get("persistedQuery")
        wanted = request.document_id or (
            persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        )
        if isinstance(wanted, str):
            document = trusted.get(wanted.removeprefix("sha256:"))
            if document is None:
                raise TrustedDocumentRequired(f"No trusted document with id {wanted!r}.")
            return document
        if isinstance(request.query, str) and document_hash(request.query) in trusted:
            return request.query
        raise TrustedDocumentRequired(
            "This hub runs only trusted documents: send `documentId` (their sha256) or a "
            "registered document."
        )


def told(answer: Answer, viewer: Viewer) -> Answer:
    """The answer with `extensions.viewer` for a viewer of the public role (every answer to
    it says what it is, refusals included; a stream's events carry it themselves)."""
    public = viewer_extension(viewer)
    if public is not None and answer.stream is None:
        answer.body.setdefault("extensions", {})["viewer"] = public
    return answer


def _not_executed(errors: list[GraphQLError]) -> Answer:
    body, _ = format_result(ExecutionResult(None, errors), executed=False)
    return Answer(body, executed=False)


@dataclass
class _Audit:
    """What the audit record of one request says: who (the record's actor), over which
    transport, which operation and document, the variables' hash and size (never their
    values: a subscriber's variables once filled 8 MB rows), and the outcome."""

    request: GraphQLRequest
    viewer: Viewer
    kind: str = "request"
    document: str | None = None
    operation: str | None = None
    named: str | None = None  # the document's one operation's name, parsed if not valid

    def detail(self, answer: Answer) -> dict[str, Any]:
        variables: dict[str, Any] | None = None
        if self.request.variables:
            try:
                raw = orjson.dumps(self.request.variables)
            except TypeError:  # nested past orjson's limit (and refused for it)
                raw = b""
            variables = {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
        return {
            "transport": str(self.request.transport),
            "operation": self.operation[:200] if self.operation else None,
            "document": self.document,
            "variables": variables,
            "outcome": answer.code,
            "errors": len(answer.body.get("errors") or ()),
        }


async def run(
    schema: strawberry.Schema,
    document: DocumentNode,
    context: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    *,
    time_limit: float,
    hide_suggestions: bool,
) -> ExecutionResult:
    """Execute a validated query or mutation with the resolvers within `time_limit` s."""
    try:
        async with asyncio.timeout(time_limit):
            outcome = execute(
                schema._schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                hide_suggestions=hide_suggestions,
            )
            result = await outcome if isinstance(outcome, Awaitable) else outcome
    except TimeoutError:
        error = TimedOut(f"The request took longer than {time_limit:g} s and was stopped.")
        return ExecutionResult(None, [error])
    if result.errors:
        log_errors(schema, list(result.errors), operation_name)
    return result


Handler = Callable[[GraphQLRequest, Viewer], Awaitable[Answer]]
__all__ = ["Answer", "Api", "GraphQLRequest", "Handler", "Transport", "error_entry", "run", "told"]
