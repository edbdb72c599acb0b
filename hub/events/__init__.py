"""The change log and its feed: history and outbox rows written in commit order
(`changelog.py`), the outbox read with cursors and retention (`outbox.py`), fanned out per
process (`feed.py`), wake-ups between processes (`broker.py`), and what a ketimpangan's
events mean (`discrepancy_events.py`)."""
