"""Tools around the hub, not part of it: the demo's legacy estate and what works on it.

- `estate.generate`: `generate_estate` writes a deterministic legacy estate of NTT Pemda
  systems (Bappeda, BPKAD, BPBJ and monev sources in their own shapes, with seeded
  ketimpangan in known numbers; see README.md in this folder), its mapping files and
  manifest;
- `estate.simulate`: a simulator that keeps changing those legacy systems as offices do;
- `estate.synthetic`: a synthetic canonical store written straight into the hub's tables,
  for tests, benchmarks and `rantai seed`.

Nothing in `hub`, `schema` or `resolvers` imports this package, except the CLI commands
that run these tools.
"""
