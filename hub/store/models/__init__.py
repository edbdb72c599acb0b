"""The canonical store's tables (SQLModel), one module per part: the chain (`chain.py`), the
sync and its change log (`sync.py`), the ketimpangan (`discrepancies.py`), access control
(`auth.py`), the follow-up of ketimpangan (`followup.py`), E-Surat's letters
(`letters.py`), what operators ask through the API (`operations.py`), the reference data
(`reference.py`), and the columns they share (`columns.py`). Importing this package
declares every table in `metadata`, which migrations, the sync's column types and the
estate read.
"""

from hub.store.models import (
    auth,
    chain,
    discrepancies,
    followup,
    letters,
    operations,
    reference,
    sync,
)
from hub.store.models.columns import MONEY, PERCENT, metadata

# Tables the store derives and maintains itself in SQL (migration 0016: the chain's rollup
# and the sub kegiatan it must write again; 0017: the Pemda and parents whose links must
# be checked again), declared by their migration, not as models.
DERIVED_TABLES = frozenset(
    {
        "sub_activity_rollup",
        "sub_activity_rollup_dirty",
        "sub_activity_totals",
        "link_scope_noted",
        "link_parent_noted",
    }
)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, other: object
) -> bool:
    """Alembic's filter: what autogenerate compares with the models (not DERIVED_TABLES)."""
    table = getattr(obj, "table", None)
    owner = table.name if type_ in ("index", "column") and table is not None else name
    return owner not in DERIVED_TABLES


__all__ = [
    "DERIVED_TABLES",
    "MONEY",
    "PERCENT",
    "auth",
    "chain",
    "discrepancies",
    "followup",
    "include_object",
    "letters",
    "metadata",
    "operations",
    "reference",
    "sync",
]
