"""A ketimpangan in the change log: the entity its events carry, and whether an event
raised it or resolved it. The rules engine writes these events; the API reads them."""

from __future__ import annotations

ENTITY = "Discrepancy"


def raised(op: str, changed_fields: tuple[str, ...] | list[str]) -> bool:
    """Whether an outbox event of a discrepancy raised it (else it resolved it)."""
    return op == "CREATED" or "detected_at" in changed_fields
