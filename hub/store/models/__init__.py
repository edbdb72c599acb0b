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

__all__ = [
    "MONEY",
    "PERCENT",
    "auth",
    "chain",
    "discrepancies",
    "followup",
    "letters",
    "metadata",
    "operations",
    "reference",
    "sync",
]
