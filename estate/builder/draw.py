"""Seeded draws the builders share: amounts, days and percentages."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from decimal import Decimal


def money(rng: random.Random, low: int, high: int, step: int = 1000) -> int:
    """A log-uniform amount in [low, high], a multiple of `step`."""
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    return max(step, int(value) // step * step)


def day_between(rng: random.Random, first: date, last: date) -> date:
    if last < first:
        return first
    return first + timedelta(days=rng.randint(0, (last - first).days))


def tenths(rng: random.Random, low: float, high: float) -> Decimal:
    """A percentage with one decimal in [low, high]."""
    lo, hi = round(low * 10), round(high * 10)
    return Decimal(rng.randint(lo, max(lo, hi))) / 10
