"""Serving: the Starlette app, GraphQL over HTTP and WebSocket, and the one request path
both transports share (authentication at the edge, documents and limits, the compiled path,
execution, audit, error formatting)."""
