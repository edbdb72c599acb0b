"""A workbook folder's keyed-diff stream reads only the files that changed (hub/sync/files.py):
an edit, a row gone from a file, a file removed, a file added are each found by reading
that file alone; rows of the other files are not touched; a file written within the file
system's tick is read again; another process finds the files in the store (`sync_file`);
a failed read is read again. `rantai
verify` then finds the store equal to the files: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from hub.sync import SyncEngine
from hub.sync.reports import StreamReport
from tests.conftest import asyncpg_dsn, settle_within
from tests.test_sync import MONEV_MAPPING, YEAR, Estate, estate

__all__ = ["estate"]

SETTLED = 0.3  # the files' settling margin in these tests (adapters/filestamp.py)


def code(n: int) -> str:
    return f"1.02.02.1.01.{n:04d}"


def write(estate: Estate, name: str, rows: dict[int, str]) -> None:
    """One OPD's e-Monev export: sub kegiatan n → physical progress (Q1)."""
    lines = ["tahun;kode;periode;fisik;keuangan"]
    lines += [f"{YEAR};{code(n)};{YEAR}-Q1;{fisik};1" for n, fisik in rows.items()]
    (estate.folder / "monev").mkdir(exist_ok=True)
    (estate.folder / "monev" / name).write_text("\n".join(lines) + "\n")


async def progress(estate: Estate) -> dict[str, Decimal]:
    conn = await asyncpg.connect(asyncpg_dsn(estate.store_url))
    try:
        rows = await conn.fetch("SELECT sub_activity_code, physical_percent FROM progress_report")
    finally:
        await conn.close()
    return {r[0]: r[1] for r in rows}


async def test_only_the_files_that_changed_are_read(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    settle_within(monkeypatch, SETTLED)
    (estate.folder / "mappings" / "monev.toml").write_text(MONEV_MAPPING)
    (estate.folder / "rantai.toml").write_text('[[source]]\nmapping = "mappings/monev.toml"\n')
    write(estate, "dinkes.csv", {1: "10", 2: "20"})
    write(estate, "pupr.csv", {3: "30"})
    write(estate, "bappeda.csv", {4: "40", 5: "50"})

    async with SyncEngine(estate.store_url, estate.config()) as engine:

        async def synced() -> StreamReport:
            await asyncio.sleep(SETTLED + 0.1)  # every file settled: each has its stamp
            [report] = await engine.sync()
            assert report.status == "OK", report.error
            [stream] = report.streams
            return stream

        first = await synced()
        assert (first.mode, first.read, first.created) == ("diff", 5, 5)

        write(estate, "dinkes.csv", {1: "11", 2: "20"})  # an edit
        edited = await synced()
        assert (edited.mode, edited.read, edited.updated, edited.deleted) == ("files", 2, 1, 0)
        assert (await progress(estate))[code(1)] == Decimal("11")

        write(estate, "dinkes.csv", {1: "11"})  # a row gone from its file
        gone = await synced()
        assert (gone.mode, gone.read, gone.deleted, gone.created) == ("files", 1, 1, 0)
        assert code(2) not in await progress(estate)

        (estate.folder / "monev" / "pupr.csv").unlink()  # a file removed: its rows go
        removed = await synced()
        assert (removed.mode, removed.read, removed.deleted) == ("files", 0, 1)

        write(estate, "dinsos.csv", {6: "60"})  # a file added
        added = await synced()
        assert (added.mode, added.read, added.created, added.deleted) == ("files", 1, 1, 0)
        assert await progress(estate) == {
            code(1): Decimal("11"), code(4): Decimal("40"), code(5): Decimal("50"),
            code(6): Decimal("60"),
        }  # fmt: skip

        # Written within the tick: no stamp, read now and again next time (a second write
        # in the same tick could share its file times), not the others.
        write(estate, "bappeda.csv", {4: "41", 5: "50"})
        [quick] = (await engine.sync())[0].streams
        assert (quick.mode, quick.read, quick.updated) == ("files", 2, 1)
        write(estate, "bappeda.csv", {4: "42", 5: "50"})
        again = await synced()
        assert (again.mode, again.read, again.updated) == ("files", 2, 1)
        assert (await progress(estate))[code(4)] == Decimal("42")
        await estate.verified("monev")

    # Another engine (another process) finds the files in the store: the file touched is
    # read, nothing changes. A full run reads every file.
    async with SyncEngine(estate.store_url, estate.config()) as fresh:
        (estate.folder / "monev" / "dinsos.csv").touch()  # the folder's print moves
        await asyncio.sleep(SETTLED + 0.1)
        [report] = await fresh.sync()
        [stream] = report.streams
        assert (stream.mode, stream.read, report.changes) == ("files", 1, 0)
        [report] = await fresh.sync(full=True)
        [stream] = report.streams
        assert (stream.mode, stream.read, report.changes) == ("diff", 4, 0)
    await estate.verified("monev")


async def test_a_failed_read_is_read_again(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose read fails deletes nothing and keeps the files as they were: the next
    run reads the file that failed (its stamp moved) and nothing else."""
    settle_within(monkeypatch, SETTLED)
    (estate.folder / "mappings" / "monev.toml").write_text(MONEV_MAPPING)
    (estate.folder / "rantai.toml").write_text('[[source]]\nmapping = "mappings/monev.toml"\n')
    write(estate, "dinkes.csv", {1: "10"})
    write(estate, "pupr.csv", {3: "30", 4: "40"})
    async with SyncEngine(estate.store_url, estate.config()) as engine:
        await asyncio.sleep(SETTLED + 0.1)
        await engine.sync()
        (estate.folder / "monev" / "pupr.csv").write_text("no;header;here\n")
        await asyncio.sleep(SETTLED + 0.1)
        [failed] = await engine.sync()
        assert failed.streams[0].error is not None
        assert failed.streams[0].deleted == 0
        write(estate, "pupr.csv", {3: "31"})
        await asyncio.sleep(SETTLED + 0.1)
        [report] = await engine.sync()
        [stream] = report.streams
        assert (stream.mode, stream.read, stream.updated, stream.deleted) == ("files", 1, 1, 1)
    assert await progress(estate) == {code(1): Decimal("10"), code(3): Decimal("31")}
    await estate.verified("monev")


async def test_a_row_moved_to_another_file_in_two_saves_stays(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row copied into another file, then removed from the first, is still in the
    source: the second save's read (of the first file only) does not delete it."""
    settle_within(monkeypatch, SETTLED)
    (estate.folder / "mappings" / "monev.toml").write_text(MONEV_MAPPING)
    (estate.folder / "rantai.toml").write_text('[[source]]\nmapping = "mappings/monev.toml"\n')
    write(estate, "dinkes.csv", {1: "10", 2: "20"})
    write(estate, "pupr.csv", {3: "30"})
    async with SyncEngine(estate.store_url, estate.config()) as engine:

        async def synced() -> StreamReport:
            await asyncio.sleep(SETTLED + 0.1)
            [report] = await engine.sync()
            [stream] = report.streams
            return stream

        await synced()
        write(estate, "pupr.csv", {3: "30", 2: "20"})
        await synced()
        write(estate, "dinkes.csv", {1: "10"})
        moved = await synced()
        assert (moved.mode, moved.read, moved.deleted) == ("files", 1, 0)
        write(estate, "pupr.csv", {3: "30"})  # and then gone from every file
        gone = await synced()
        assert (gone.mode, gone.read, gone.deleted) == ("files", 1, 1)
    assert set(await progress(estate)) == {code(1), code(3)}
    await estate.verified("monev")


# A second stream of the same entity: the files' rows again, as the second quarter's.
Q2_STREAM = "\n" + MONEV_MAPPING[MONEV_MAPPING.index("[[entity]]") :].replace(
    'period = "periode"', f'period = {{ const = "{YEAR}-Q2" }}'
)


async def test_a_stream_read_in_full_beside_another_forgets_its_files(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second stream of the entity makes both read in full; removed again, the first
    does not trust what it kept before: the second's rows leave the store."""
    settle_within(monkeypatch, SETTLED)
    mapping = estate.folder / "mappings" / "monev.toml"
    (estate.folder / "rantai.toml").write_text('[[source]]\nmapping = "mappings/monev.toml"\n')
    write(estate, "dinkes.csv", {1: "10"})
    write(estate, "pupr.csv", {3: "30"})

    async def synced() -> list[tuple[str, int, int]]:
        await asyncio.sleep(SETTLED + 0.1)
        async with SyncEngine(estate.store_url, estate.config()) as engine:
            [report] = await engine.sync()
        assert report.status == "OK", report.error
        return [(s.mode, s.read, s.deleted) for s in report.streams]

    mapping.write_text(MONEV_MAPPING)
    assert await synced() == [("diff", 2, 0)]
    mapping.write_text(MONEV_MAPPING + Q2_STREAM)
    assert await synced() == [("diff", 2, 0), ("diff", 2, 0)]
    mapping.write_text(MONEV_MAPPING)
    assert await synced() == [("diff", 2, 2)]
    assert set(await progress(estate)) == {code(1), code(3)}
    await estate.verified("monev")
