"""Tools around the hub, not part of it: the demo's legacy estate and what works on it.

- `estate.generate`: `generate_estate` writes a deterministic legacy estate of NTT Pemda
  systems (Bappeda, BPKAD, BPBJ and monev sources in their own shapes, with seeded
  ketimpangan in known numbers; see README.md in this folder), its mapping files and
  manifest;
- `estate.simulate`: a simulator that keeps changing those legacy systems as offices do;
- `estate.synthetic`: a synthetic canonical store written straight into the hub's tables,
  for tests, benchmarks and `rantai seed`.

Nothing in `hub`, `schema` or `resolvers` imports this package, except the CLI commands
that run these tools. It imports from `adapters` (codes, parsing) and from the hub only two
things, both lazily: `hub.db.EmbeddedPostgres`, where an estate is generated without a
PostgreSQL URL, and `hub.store.models`, whose foreign keys order the synthetic store's COPY.
The import contracts in pyproject.toml (`[tool.importlinter]`) check both directions: only
the CLI imports the estate, and the estate imports nothing of the API, the sync or the rules.
"""
