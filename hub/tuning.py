"""Process-wide runtime tuning shared by the server and the sync command."""

from __future__ import annotations

import gc


def tune_gc(threshold: int) -> None:
    """Make the cyclic garbage collector cheap for a process that builds many objects: the
    server's large answers, the sync's batches of records.

    A deep chain answer is ~100k short-lived objects; with CPython's default threshold
    (700 allocations) the collector ran full collections over every live object of the
    requests in flight, ~70% of a `first: 1000` request (bench/chain.py). Freezing what
    start-up loaded takes it out of every collection; a higher first threshold makes
    collections rare. Memory is still freed at once by reference counting: only cycles
    wait for a collection.

    Not too rare: cyclic garbage waits for a full collection, which comes after 100 first-
    generation ones. At 300,000 the soak's RSS climbed in steps for 7 minutes to 201 MiB
    before it levelled (the compiled path allocates little, so collections came slowly);
    at 50,000 it stays flat at 154–157 MiB (bench/soak.py, docs/performance.md).

    A sync keeps a batch of records alive while it is written (thousands of dicts, Decimals,
    strings): at the default threshold the collections walking them took about 3 s of the
    10.5 s of CPU this process spent on an initial province sync (bench/sync.py).
    """
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(threshold, second, third)
