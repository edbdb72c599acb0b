"""What a SQLite database's files look like, when that tells every change since.

A SQLite source's keyed-diff streams have no checksums in SQL (`adapters/blocks.py`), so
the sync skips them when the database's files provably did not change: the *stamp* is the
device, inode, size, modification and status-change times (nanoseconds) of the database
file; device, inode, size and modification time of its `-wal` and its `-journal` (or that
one is absent); and the header of the `-wal` (checkpoint sequence and salts: new with
every restart of the log, even one that leaves its size as it was).

Every write to a file sets its status-change time (`ctime`) to the kernel's clock, and
nothing but the clock sets it: `touch -d`, `cp -p` or `rsync -t` can put an old
modification time back, never an old `ctime`. A database file replaced by another (a
restored copy, a rename over it) is another inode, or the same one with a new `ctime`.
The logs are only ever appended to or rewritten by SQLite, each write setting their
modification time (their `ctime` also moves when a reader opens them, see `_file`). What the
times cannot tell is a second write within the same tick of the file system's clock
(milliseconds here, one or two seconds on FAT, HFS+ or ext3): a stamp taken between two
such writes would equal the stamp after them. So a stamp is only given when every file
last changed more than its tick before it was taken (`tick_seconds`); a database written
more recently has no stamp (`None`: read in full, as it would be anyway, and the next run
stamps it once it has settled). The tick is `FINE_SETTLED_SECONDS` on a file system whose
times have digits below ten milliseconds (ext4, XFS, btrfs, tmpfs, NTFS, APFS: their
times come from a clock that moves every few milliseconds), told by the file's `ctime`,
which only the kernel sets; `SETTLED_SECONDS` on any other (FAT, HFS+, ext3: one or two
seconds). A write settles within a tenth of a second, so a look at the usual half-second
sees it settled and the source is synced once, not a second time when it settles.

The database file itself is only `stat`ed, never opened: closing any descriptor of a file
drops every POSIX lock this process holds on it, the SQLite connections' too. Its
header's change counter would add nothing that its `ctime` does not already tell.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from adapters.base import Look

SETTLED_SECONDS = 2.0  # the coarsest file-time tick in use (FAT: 2 s)
FINE_SETTLED_SECONDS = 0.1  # a file system with sub-10 ms times: ten of its clock's ticks
_WAL_HEADER = 32  # magic, version, page size, checkpoint sequence, salts, checksum


def tick_seconds(ctime_ns: int) -> float:
    """The tick of the times of the file system that holds a file of this `ctime`."""
    return FINE_SETTLED_SECONDS if ctime_ns % 10_000_000 else SETTLED_SECONDS


def settles_at(st: os.stat_result, changed_ns: int) -> int:
    """When a file that last changed at `changed_ns` is past its file system's tick."""
    return changed_ns + int(tick_seconds(st.st_ctime_ns) * 1e9)


def file_stamp(path: Path, log: bool = False) -> tuple[str, int]:
    """One file's part of the stamp ('-' when it does not exist) and when its last change
    settles (`settles_at`, nanoseconds; 0 when absent). A `log` (the -wal or -journal) is
    stamped by its modification time only: SQLite gives it its database's owner each time
    it is opened (as root), which moves its `ctime` though nothing was written."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "-", 0
    changed = st.st_mtime_ns if log else max(st.st_mtime_ns, st.st_ctime_ns)
    part = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    return (part if log else f"{part}:{st.st_ctime_ns}"), settles_at(st, changed)


def _parts(database: Path) -> tuple[str, int]:
    """The digest of the database's files' parts, and when the last of them settles."""
    parts: list[str] = []
    last = 0
    for suffix in ("", "-wal", "-journal"):
        path = database.with_name(database.name + suffix)
        part, settles = file_stamp(path, log=bool(suffix))
        if suffix == "-wal" and part != "-":
            # The log's own file is never locked: reading its header is harmless.
            with open(path, "rb") as log:
                part += ":" + log.read(_WAL_HEADER).hex()
        parts.append(f"{suffix or 'db'}={part}")
        last = max(last, settles)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest(), last


def settled(settles_ns: int, now_ns: int) -> bool:
    """Whether files whose last change settles at `settles_ns` (`settles_at`) have."""
    return settles_ns <= now_ns


def sqlite_stamp(database: Path) -> str | None:
    """The stamp of the SQLite database at `database` (see the module), or None when it
    cannot tell every change (a file changed too recently, or is unreadable)."""
    now_ns = time.time_ns()
    try:
        digest, last = _parts(database)
    except OSError:
        return None
    return digest if settled(last, now_ns) else None


def sqlite_look(database: Path) -> Look | None:
    """A look at the database's files between two syncs (`Adapter.look`): the stamp's
    digest, unsettled while a file changed within the tick; None when unreadable."""
    now_ns = time.time_ns()
    try:
        digest, last = _parts(database)
    except OSError:
        return None
    return Look(digest, settled(last, now_ns))
