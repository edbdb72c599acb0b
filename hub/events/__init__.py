"""Change events: reading the outbox in commit order, cursors, retention."""
