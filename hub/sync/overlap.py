"""What a watermarked stream's overlap read last time, remembered by the engine.

Every watermarked read starts `overlap_seconds` before the stored watermark (stragglers:
`hub.sync.streams.overlapped`), so an idle stream re-reads its newest rows every cycle and
compared them with the store in a transaction that wrote nothing: about half of an idle
source's round trips. The engine now keeps, per stream, a digest of the overlap it last
applied: the stored watermark it read after, the mapping's signature and every row's
source key, mapped values and watermark, in order. When a cycle's read is one batch whose
digest equals the one remembered, the rows are exactly those the store was made equal
to, and the store's transaction is skipped (they count as unchanged).

Why nothing is missed:

* an edit inside the window changes a mapped value (even with the same watermark value), an
  insert with an old watermark inside the window adds a key, a watermark that moved
  changes the window: each changes the digest, and the rows are applied as before;
* a digest is remembered only after its batch committed with no row left waiting, and
  only by this process: a new process compares everything once;
* it holds only while nothing else changed the source's rows in the store. The source's
  `change_seq` (moved by every batch or deletion that changed its rows, whoever wrote it)
  is read with the stream states at a run's start and returned by the health write at its
  end, under the source's lock; when the start differs from this engine's last end
  (another hub process, `rantai sync --full`, the scheduled reconciliation), everything
  remembered for the source is forgotten. A run with an error forgets too;
* an edit that did not set the watermark column, outside the window or inside it, is what
  it always was: the scheduled reconciliation's full read finds it (decisions 43 and 56);
  a store row changed behind the sync's back is found there too, and by `rantai verify`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from adapters.mapping import EntityMapping
from hub.sync.bindings import Binding
from hub.sync.checksums import signature
from hub.sync.run import SourceRun
from hub.sync.writer import Item, Outcome

# (source id, stream id, the mapping's identity: two mappings of one table share a stream id)
Key = tuple[str, str, int]


def digest(
    run: SourceRun,
    mapping: EntityMapping,
    binding: Binding,
    window: tuple[Any, Any],
    items: Sequence[Item | tuple[Item, str]],
) -> bytes:
    """The overlap's rows as the store would be made equal to them, read in `window`
    (where the read started, the stored watermark) through the mapping."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((signature(run.source, mapping, binding), window)).encode())
    for item in items:
        h.update(b"\x00" + repr(item).encode())
    return h.digest()


class Overlaps:
    """Per stream, the digest of the overlap last applied; per source, its change_seq when
    this engine's last run of it ended."""

    def __init__(self) -> None:
        self._applied: dict[Key, bytes] = {}
        self._seq: dict[str, int] = {}

    def begin(self, source_id: str, seq: int | None) -> None:
        """A run starts and finds the source's `seq`: what was remembered holds only if no
        one changed the source's rows since this engine's last run ended."""
        if seq is None or self._seq.get(source_id) != seq:
            self.forget(source_id)

    def end(self, source_id: str, seq: int | None, ok: bool) -> None:
        """A run ended (its health written, the lock still held) at `seq`."""
        if ok and seq is not None:
            self._seq[source_id] = seq
        else:
            self.forget(source_id)

    def forget(self, source_id: str) -> None:
        self._seq.pop(source_id, None)
        for key in [k for k in self._applied if k[0] == source_id]:
            del self._applied[key]

    def same(self, key: Key, value: bytes) -> bool:
        return self._applied.get(key) == value

    def applied(self, key: Key, value: bytes | None, outcome: Outcome) -> None:
        """A batch was committed: the whole overlap `value` (None: not a whole overlap),
        remembered unless it left rows waiting."""
        if value is None or outcome.waiting:
            self._applied.pop(key, None)
        else:
            self._applied[key] = value
