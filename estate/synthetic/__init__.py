"""A deterministic synthetic canonical store, shaped like DOMAIN.md, for tests, benchmarks
and `rantai seed`.

It writes canonical rows straight into the store with COPY (the legacy estate and the sync
engine are another path). The same seed always gives the same rows. `seed` fills the store
Pemda by Pemda, `chain` writes one sub kegiatan's whole chain, `vocabulary` holds the names
they draw from.
"""

from estate.synthetic.seed import SeedStats, seed_canonical

__all__ = ["SeedStats", "seed_canonical"]
