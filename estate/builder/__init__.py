"""Build one Pemda's estate for each fiscal year, in memory: a clean chain, then seeded
discrepancies.

The clean data is built so that no rule of `estate/rules.py` fires on it (contracts 2–12%
under HPS, at least two bids in every tender, payments no faster than progress, …); the
seeds then break exactly one rule each, on rows no other seed touches. `RegionBuilder.build`
checks the result with `rules.detect` and raises if anything but the seeded rows is found.

`region` holds the Pemda (OPD, vendors, the sub kegiatan catalogue) and `year` one fiscal
year's state and the order of its steps, one module per system the rows belong to: `plan`
(e-planning), `packages` (SiRUP), `budget` (DPA), `tenders` (SPSE), `payments` (SP2D) and
`progress` (monev). Each step draws from the year's one seeded random generator, so their
order is part of the estate: the same seed gives the same estate only in that order.
"""
