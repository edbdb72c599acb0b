"""Between two sync cycles a look at each source finds those that changed, without reading
a row (`hub/sync/probe.py`, `adapters/looks.py`): the sync loop syncs them at once instead
of a whole interval later.

A write (an edit, an insert, a delete) changes the look of a PostgreSQL source (its
statistics), a MariaDB source (its tables' update times), a SQLite source (its files) and a
spreadsheet source (its workbooks); the hub's own reads change none; a look taken within
its clock's tick of a write counts once more when it settles, then the source is quiet.
Real servers, real files; MariaDB tests skip, saying so, where no MariaDB server answers.
No timing is asserted: waits are bounded only so that a broken look fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.mapping import Config, SourceMapping
from hub.events.broker import SYNC_CHANNEL
from hub.jobs import sync_forever
from hub.sync import SyncEngine
from hub.sync.connections import KeptAdapters
from hub.sync.probe import Probe
from hub.sync.reports import SourceReport
from tests.conftest import asyncpg_dsn, settle_within
from tests.test_sync import Estate, build_estate
from tests.test_sync_checksums import MAPPING, Legacy, code
from tests.test_sync_checksums import server_legacy as legacy

__all__ = ["legacy"]  # the PostgreSQL and MariaDB sources of the checksum tests

SETTLED = 0.3  # the files' settling margin in these tests (adapters/filestamp.py)

# The checksum tests' source with its sub kegiatan read from a table, not through a query.
TABLE_MAPPING = (
    MAPPING[: MAPPING.index('query = """')]
    + """table = "subkeg"
[entity.fields]
region_code = {{ const = "53" }}
fiscal_year = "tahun"
code = "kode"
name = "kode"
opd_code = "skpd"
planned_amount = "pagu"
"""
)


async def quiet(probe: Probe, sources: Sequence[SourceMapping]) -> None:
    """Look until every look is settled and nothing changed (bounded: 20 s)."""
    for _ in range(100):
        changed = await probe.changed(sources)
        if not changed and all(probe.looks[s.id].settled for s in sources):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the looks never settled: {probe.looks}")


async def until_changed(probe: Probe, sources: Sequence[SourceMapping]) -> list[str]:
    """Look until a look differs (bounded: a PostgreSQL backend that committed twice
    within a second publishes its counters ten seconds later at most)."""
    for _ in range(150):
        changed = await probe.changed(sources)
        if changed:
            return changed
        await asyncio.sleep(0.2)
    raise AssertionError("no look changed")


def names(reports: Sequence[SourceReport]) -> list[str]:
    return [r.source for r in reports]


@contextlib.asynccontextmanager
async def looping(
    legacy: Legacy,
    config: Config,
    keep: Callable[[Sequence[SourceReport]], Any] = list,
    **options: Any,
) -> AsyncIterator[asyncio.Queue[Any]]:
    """`sync_forever` on the legacy source, what `keep` takes of each cycle's reports in a
    queue; stopped on leaving."""
    cycles: asyncio.Queue[Any] = asyncio.Queue()
    stop = asyncio.Event()
    loop = asyncio.create_task(
        sync_forever(
            legacy.store_url,
            config,
            stop=stop,
            on_cycle=lambda reports: cycles.put_nowait(keep(reports)),
            **options,
        )
    )
    try:
        yield cycles
    finally:
        stop.set()
        await asyncio.wait_for(loop, 30)


async def test_a_write_changes_a_servers_look_and_a_read_does_not(legacy: Legacy) -> None:
    legacy.mapping = TABLE_MAPPING
    config = legacy.config()
    sources = config.sources
    async with SyncEngine(legacy.store_url, config) as engine:
        probe = Probe(engine.kept)
        assert await probe.changed(sources) == []  # the first look only sets the baseline
        await quiet(probe, sources)
        await engine.sync()  # reads every row of both streams
        assert await probe.changed(sources) == [], "a read is not a change"

        await legacy.execute("UPDATE subkeg SET pagu = pagu + 1 WHERE kode = %s", code(7))
        assert await until_changed(probe, sources) == ["legacy"]
        await quiet(probe, sources)

        await legacy.execute("DELETE FROM skpd WHERE kode = %s", "nothing such")
        await engine.sync()
        assert await probe.changed(sources) == [], "a write that changed no row, a read"

        await legacy.execute("INSERT INTO skpd VALUES (%s, %s)", "9.99", "Dinas Baru")
        assert await until_changed(probe, sources) == ["legacy"]
        await quiet(probe, sources)
        await legacy.execute("DELETE FROM skpd WHERE kode = %s", "9.99")
        assert await until_changed(probe, sources) == ["legacy"]
        await quiet(probe, sources)

        await legacy.execute("UPDATE uraian SET teks = %s WHERE id = %s", "Tidak dibaca", 7)
        await asyncio.sleep(1.5)
        assert await probe.changed(sources) == [], "a table the mapping does not read"


async def test_a_query_is_looked_at_through_every_table_or_not_at_all(legacy: Legacy) -> None:
    """PostgreSQL: a mapping that reads a query is looked at by every table of its
    database; MariaDB: it has no look, so every cycle reads it."""
    config = legacy.config()
    sources = config.sources
    async with SyncEngine(legacy.store_url, config) as engine:
        probe = Probe(engine.kept)
        assert await probe.changed(sources) == []
        if legacy.kind == "mariadb":
            assert probe.looks == {}
            assert await probe.due(sources, set(), 3600) == ["legacy"]
            return
        await quiet(probe, sources)
        await legacy.execute("UPDATE uraian SET teks = %s WHERE id = %s", "Uraian baru", 7)
        assert await until_changed(probe, sources) == ["legacy"]


@pytest.fixture
async def files_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Estate:
    settle_within(monkeypatch, SETTLED)
    return build_estate(tmp_path / "estate", "postgresql://unused/store")


async def test_a_sqlite_write_changes_its_look_once_more_when_it_settles(
    files_estate: Estate,
) -> None:
    config = files_estate.config()
    sources = [s for s in config.sources if s.config.kind == "sqlite"]
    assert len(sources) == 2
    finance = next(s for s in sources if s.id == "finance")
    probe = Probe(KeptAdapters())
    assert await probe.changed(sources) == []
    await quiet(probe, sources)

    with sqlite3.connect(files_estate.finance) as conn:
        conn.execute("UPDATE sp2d SET nilai = nilai + 1")
    assert await probe.changed(sources) == ["finance"]
    assert not probe.looks[finance.id].settled  # within the file system's tick
    await asyncio.sleep(SETTLED + 0.1)
    assert await probe.changed(sources) == ["finance"], "once more, settled"
    assert probe.looks[finance.id].settled
    assert await probe.changed(sources) == []

    shutil.copy(files_estate.finance, files_estate.finance.with_suffix(".bak"))
    assert await probe.changed(sources) == [], "a read of the file is not a change"


async def test_the_loop_syncs_a_changed_source_between_its_cycles(legacy: Legacy) -> None:
    legacy.mapping = TABLE_MAPPING
    config = legacy.config()
    async with looping(legacy, config, interval=3600, probe_every=0.1) as cycles:
        [first] = await asyncio.wait_for(cycles.get(), 120)  # the cycle of every source
        assert first.error is None, first.error
        before = await legacy.sub(7)
        assert before is not None
        await legacy.execute("UPDATE subkeg SET pagu = pagu + 5 WHERE kode = %s", code(7))
        [report] = await asyncio.wait_for(cycles.get(), 60)  # not an hour later
        assert report.source == "legacy"
        assert report.error is None, report.error
        after = await legacy.sub(7)
        assert after is not None
        assert after["planned_amount"] == before["planned_amount"] + 5


async def test_a_cycle_leaves_out_a_source_whose_look_did_not_move(legacy: Legacy) -> None:
    """Cycles every 0.2 s: after the first, a source nothing wrote to is not synced; a write
    is; a source with rows waiting for a parent is synced every cycle; and any source is
    synced again once `unchanged_seconds` passed, whatever its look."""
    legacy.mapping = TABLE_MAPPING
    config = legacy.config()
    gated: dict[str, Any] = {"interval": 0.2, "probe_every": 0.05, "keep": names}

    async def next_synced(cycles: asyncio.Queue[list[str]]) -> list[str]:
        while True:  # bounded by the caller
            synced = await cycles.get()
            if synced:
                return synced

    async with looping(legacy, config, unchanged_seconds=3600, **gated) as cycles:
        assert await asyncio.wait_for(cycles.get(), 120) == ["legacy"]  # every source
        if legacy.kind == "mariadb":  # the fixture's writes settle within two seconds
            await asyncio.sleep(2.5)
            while not cycles.empty():
                cycles.get_nowait()
        for _ in range(10):
            assert await asyncio.wait_for(cycles.get(), 60) == [], "nothing changed"

        await legacy.execute("UPDATE subkeg SET pagu = pagu + 5 WHERE kode = %s", code(3))
        assert await asyncio.wait_for(next_synced(cycles), 60) == ["legacy"]
        row = await legacy.sub(3)
        assert row is not None
        assert row["planned_amount"] == 3005

        await legacy.store(
            "INSERT INTO sync_pending (source_id, entity, source_key, record, reason) "
            "VALUES ('legacy', 'sub_activity', 'x', '{}', 'test: waits for a parent')"
        )
        for _ in range(3):
            assert await asyncio.wait_for(next_synced(cycles), 60) == ["legacy"]
        await legacy.store("DELETE FROM sync_pending WHERE source_key = 'x'")

    async with looping(legacy, config, unchanged_seconds=1.0, **gated) as cycles:
        assert await asyncio.wait_for(cycles.get(), 120) == ["legacy"]
        assert await asyncio.wait_for(next_synced(cycles), 60) == ["legacy"], "after a second"


async def test_a_truncate_moves_the_look(legacy: Legacy) -> None:
    """TRUNCATE counts no deleted row in PostgreSQL's statistics and leaves MariaDB's
    UPDATE_TIME as it was: the table's new file (PostgreSQL) or creation time (MariaDB)
    moves the look."""
    legacy.mapping = TABLE_MAPPING
    config = legacy.config()
    sources = config.sources
    async with SyncEngine(legacy.store_url, config) as engine:
        probe = Probe(engine.kept)
        await probe.changed(sources)
        await quiet(probe, sources)
        await legacy.execute("TRUNCATE TABLE skpd")
        assert await until_changed(probe, sources) == ["legacy"]


async def test_a_look_after_a_failed_one_counts_as_changed(legacy: Legacy) -> None:
    """The source is unreachable for a moment, then written to at once: nothing looked
    while it was away, so the first look after counts as changed."""
    if legacy.kind != "postgresql":
        pytest.skip("the outage is made with PostgreSQL's ALLOW_CONNECTIONS")
    legacy.mapping = TABLE_MAPPING
    config = legacy.config()
    sources = config.sources
    name = legacy.url.rsplit("/", 1)[-1]
    admin = await asyncpg.connect(asyncpg_dsn(legacy.store_url))
    try:
        async with SyncEngine(legacy.store_url, config) as engine:
            probe = Probe(engine.kept)
            await probe.changed(sources)
            await quiet(probe, sources)
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            for _ in range(50):  # bounded: until the look fails
                await probe.changed(sources)
                if "legacy" not in probe.looks:
                    break
                await asyncio.sleep(0.1)
            assert "legacy" not in probe.looks, "the look did not fail during the outage"
            assert "legacy" in await probe.due(sources, set(), 3600), "no look: due"
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert await probe.changed(sources) == ["legacy"]
            assert await probe.changed(sources) == []
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def test_a_view_is_not_mistaken_for_a_table_of_another_schema(legacy: Legacy) -> None:
    """A mapping that reads a view has no look (its rows' writes are counted on other
    tables), even when another schema holds a table of the view's name."""
    if legacy.kind != "postgresql":
        pytest.skip("schemas and views of PostgreSQL")
    await legacy.execute("CREATE VIEW skpd_v AS SELECT * FROM skpd")
    await legacy.execute("CREATE SCHEMA arsip")
    await legacy.execute("CREATE TABLE arsip.skpd_v (kode varchar(40), nama varchar(200))")
    legacy.mapping = TABLE_MAPPING.replace('table = "skpd"', 'table = "skpd_v"')
    config = legacy.config()
    async with SyncEngine(legacy.store_url, config) as engine:
        probe = Probe(engine.kept)
        await probe.changed(config.sources)
        assert "legacy" not in probe.looks
        assert await probe.due(config.sources, set(), 3600) == ["legacy"]


async def test_a_sync_now_cycle_also_syncs_the_sources_whose_look_moved(legacy: Legacy) -> None:
    """A "sync now" naming another source (here one this hub does not know) looks at every
    source: one whose look moved is synced with it, not left for the gate's limit."""
    legacy.mapping = TABLE_MAPPING
    config = legacy.config()
    # No look between cycles in this test (probe_every 600): only the request's.
    options: dict[str, Any] = {"interval": 3600, "probe_every": 600, "unchanged_seconds": 3600}
    store = await asyncpg.connect(asyncpg_dsn(legacy.store_url))
    try:
        async with looping(legacy, config, keep=names, **options) as cycles:
            assert await asyncio.wait_for(cycles.get(), 120) == ["legacy"]
            await legacy.execute("UPDATE subkeg SET pagu = pagu + 7 WHERE kode = %s", code(4))
            # The write's counters published, MariaDB's second past and its table statistics
            # taken (information_schema.TABLES was seen a second late under load).
            await asyncio.sleep(3.0)
            request = await store.fetchval(
                "INSERT INTO sync_request (source_id, requested_by) "
                "VALUES ('elsewhere', 'test') RETURNING id"
            )
            synced: list[str] | None = None
            for _ in range(24):  # bounded: the loop may not be listening yet at the first
                await store.execute("SELECT pg_notify($1, $2)", SYNC_CHANNEL, str(request))
                try:
                    synced = await asyncio.wait_for(cycles.get(), 5)
                    break
                except TimeoutError:
                    continue
            assert synced == ["legacy"]
            row = await legacy.sub(4)
            assert row is not None
            assert row["planned_amount"] == 4007
    finally:
        await store.close()
