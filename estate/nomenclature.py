"""The nomenclature the demo estate plans with: real codes and names of the regency/city
annex shipped with the hub (hub/reference/), per bidang urusan.

A regency or city draws its sub kegiatan from the annex as it is (4th segment 2; the
special-autonomy variants 3, 4, 5 and 7 are left out: NTT has none). The hub ships no
provincial annex (hub/reference/README.md), so the province's plan uses the same codes
with the 4th segment 1, named as their regency/city counterparts, and its support program
"… DAERAH PROVINSI": stand-ins shaped like provincial codes, which CODE_NOT_IN_NOMENCLATURE
does not check since no loaded edition covers the provincial annex.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from hub.reference import SHIPPED_NOMENCLATURE_FIRST_YEAR, read_nomenclature

PROVINCIAL_SUPPORT = "PROGRAM PENUNJANG URUSAN PEMERINTAHAN DAERAH PROVINSI"
# The first fiscal year the shipped edition is in force (the hub checks codes from then on).
FIRST_YEAR = SHIPPED_NOMENCLATURE_FIRST_YEAR


@dataclass(frozen=True)
class Entry:
    """A sub kegiatan of the nomenclature with its kegiatan and program."""

    program: str
    program_name: str
    activity: str
    activity_name: str
    code: str
    name: str

    @property
    def support(self) -> bool:
        """Whether it belongs to the bidang's Program Penunjang (program number 01)."""
        return self.program.endswith(".01")

    def provincial(self) -> Entry:
        """The same entry as a province's stand-in: 4th segment 1."""

        def swap(code: str) -> str:
            parts = code.split(".")
            parts[3] = "1"
            return ".".join(parts)

        name = PROVINCIAL_SUPPORT if self.support else self.program_name
        return Entry(
            self.program,
            name,
            swap(self.activity),
            self.activity_name,
            swap(self.code),
            self.name,
        )


@cache
def entries_by_bidang() -> dict[str, tuple[Entry, ...]]:
    """The regency/city annex's sub kegiatan (4th segment 2) per bidang urusan, by code."""
    nomenclature = read_nomenclature()
    names = {e.code: e.name for e in nomenclature.entries}
    pools: dict[str, list[Entry]] = defaultdict(list)
    for e in nomenclature.entries:
        parts = e.code.split(".")
        if e.level != "sub_kegiatan" or parts[3] != "2":
            continue
        program, activity = ".".join(parts[:3]), ".".join(parts[:5])
        pools[".".join(parts[:2])].append(
            Entry(program, names[program], activity, names[activity], e.code, e.name)
        )
    return {bidang: tuple(entries) for bidang, entries in pools.items()}


@cache
def regency_codes() -> frozenset[str]:
    """Every code a regency or city may use in the shipped edition."""
    return read_nomenclature().codes(annex="kabkota")
