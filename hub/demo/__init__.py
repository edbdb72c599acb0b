"""The demo legacy estate: Bappeda, BPKAD, BPBJ and monev sources in their own shapes, with
seeded ketimpangan in known numbers (see README.md in this folder)."""

from __future__ import annotations

from hub.demo.estate import SCALES, EstateResult, generate_estate

__all__ = ["SCALES", "EstateResult", "generate_estate"]
