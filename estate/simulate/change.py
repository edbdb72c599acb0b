"""What one step reports (`SimChange`), and how the simulator fails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class SimulatorError(Exception):
    """No change is possible, or the estate cannot be simulated; the message says why."""


class SourceUnavailable(SimulatorError):
    """A legacy source cannot be reached or read as the simulator expects."""


@dataclass(frozen=True)
class SimChange:
    source: str  # source id, e.g. "bpkad-53"
    entity: str  # canonical entity written: payment, progress_report, contract, …
    kind: str  # payment | monev | tender_announced | tender_result | amendment
    key: str  # the natural key written, e.g. "53.01/2026/00123/SP2D/LS/2026"
    written_at: datetime  # UTC, when it was committed
    summary: str  # one short human line for the demo's log
