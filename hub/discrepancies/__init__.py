"""Ketimpangan: the rules (`rules/`), their thresholds (`thresholds.py`), the engine that
runs them in full or after each sync on what changed (`engine.py`)."""

from hub.discrepancies.engine import DiscrepancyEngine, RunReport
from hub.discrepancies.rules import BY_CODE, RULES, Rule
from hub.discrepancies.thresholds import ThresholdError, Thresholds, load_thresholds

__all__ = [
    "BY_CODE",
    "RULES",
    "DiscrepancyEngine",
    "Rule",
    "RunReport",
    "ThresholdError",
    "Thresholds",
    "load_thresholds",
]
