"""Compiled SQL for pure-data documents: one statement builds the answer's JSON.

The ordinary path resolves every field through graphql-core and Strawberry, and for a deep
chain most of the time goes there, field by field, not to PostgreSQL. A query whose every
selected field is plain data of the store (columns, links between tables, provenance) is
compiled instead: each root field becomes a `json_build_object` whose nested lists are
correlated `json_agg` subqueries, with the viewer's scope predicates on every table, and
the JSON PostgreSQL returns is spliced into the response as it is (`orjson.Fragment`),
never parsed or walked in Python.

By phase: `collect` (the fields a selection asks for, merged as execution merges them),
`compiler` (objects and fields, from the schema's own field declarations), `roots` (the
root fields it knows: their arguments and paging), `plans` (statements kept per document
and shape, and run). `sql` holds the value checks that keep stored values the schema
would refuse from reaching a client.

The compiler declines, and the ordinary path answers, whenever it is not sure to answer
exactly the same: a field without a declaration it compiles (aggregates, evidence,
timestamps: their text differs between PostgreSQL and Python), a field with arguments
below the root, a directive other than @skip/@include or one whose condition is null, a
masked field the viewer may not see, argument values the ordinary path refuses, and any
failure while preparing or running. `tests/test_compiled.py` compares both paths.
"""

from hub.serving.compiled.plans import CompiledQueries
from hub.serving.compiled.sql import Decline

__all__ = ["CompiledQueries", "Decline"]
