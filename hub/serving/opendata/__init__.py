"""Open data: the procurement chain as OCDS (`ocds`), and every list of the dashboard as
Excel or CSV (`exports`, `xlsx`). Both are built from GraphQL answers obtained through the
one request path (`pages`), so a document holds exactly what its viewer may see through
GraphQL, masks included, and each page is rate-limited, audited and counted like any other
operation."""
