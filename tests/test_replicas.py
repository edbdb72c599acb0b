"""Read replicas, against a real streaming replica: a primary and a replica made with this
machine's PostgreSQL binaries (`pg_basebackup -R`, a second port), since the shared test
server allows no replication connections. Queries read the replica; a replica that lags
or dies is skipped and queries keep working on the primary; a restarted one is used again;
a viewer's reads after its own write, and a change event's rendering, never read a
replica that has not replayed that write."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from estate.synthetic import seed_canonical
from hub.migrate import run_async
from hub.serving.app import create_app
from hub.settings import Settings
from tests.conftest import free_port


def _binaries() -> Path | None:
    """A directory with initdb, pg_ctl and pg_basebackup: the machine's PostgreSQL, else
    the embedded one's (the pgserver wheel)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    try:
        import pgserver

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin"))
    except ImportError:  # pragma: no cover
        pass
    for folder in candidates:
        if all(
            os.access(Path(folder) / tool, os.X_OK)
            for tool in ("initdb", "pg_ctl", "pg_basebackup")
        ):
            return Path(folder)
    return None


@dataclass
class Cluster:
    bin: Path
    data: Path
    port: int

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args],
            check=True, capture_output=True, user=_user(),
        )  # fmt: skip

    def start(self) -> None:
        # With a log file, so that the server does not hold pg_ctl's captured output open.
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"  # throwaway clusters: no disk flushes
        )
        self.ctl("-o", options, "-l", f"{self.data}.log", "start")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/rantai"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/rantai"


def _user() -> str | None:
    """PostgreSQL refuses to run as root: the clusters run as `postgres` then."""
    return "postgres" if os.geteuid() == 0 else None


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    binaries = _binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl, pg_basebackup) on this machine")
    # Not under pytest's own temporary folder: it is private to root, and PostgreSQL runs
    # as `postgres` here when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="rantai-replication-"))
    if _user():
        shutil.chown(root, "postgres")
    primary = Cluster(binaries, root / "primary", free_port())
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(primary.data), "-U", "postgres", "-A", "trust"],
        check=True, capture_output=True, user=_user(),
    )  # fmt: skip
    with open(primary.data / "pg_hba.conf", "a") as hba:
        hba.write("host replication postgres 127.0.0.1/32 trust\n")
    primary.start()
    replica = Cluster(binaries, root / "replica", free_port())
    try:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "rantai"]
            if shutil.which("createdb") else
            [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(primary.port), "-U",
             "postgres", "rantai"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [str(binaries / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
             "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast"],
            check=True, capture_output=True, user=_user(),
        )  # fmt: skip
        replica.start()
        yield primary, replica
    finally:
        for cluster in (replica, primary):
            if (cluster.data / "postmaster.pid").exists():
                cluster.ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


async def _fetch(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _until(check: object, what: str, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
async def hub(clusters: tuple[Cluster, Cluster]) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    primary, replica = clusters
    await run_async(primary.url, "upgrade", "head")
    conn = await asyncpg.connect(primary.dsn)
    try:
        await seed_canonical(conn, sub_activities=60, seed=2)
    finally:
        await conn.close()
    await _until(lambda: _has_regions(replica.dsn), "the replica to replay the seeded store")
    settings = Settings(
        database_url=primary.url,
        read_database_urls=replica.url,
        replica_max_lag_seconds=1.0,
        dev_anonymous_role="province",
    )
    app = create_app(primary.url, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client, app.state.replicas


async def _has_regions(dsn: str) -> bool:
    try:
        return bool(await _fetch(dsn, "SELECT count(*) FROM region"))
    except Exception:
        return False


NAME = '{ region(code: "53") { name } }'


async def _name(client: httpx.AsyncClient) -> str:
    body = (await client.post("/graphql", json={"query": NAME})).json()
    assert "errors" not in body, body
    return str(body["data"]["region"]["name"])


async def test_queries_read_the_replica_and_skip_it_when_it_lags_or_dies(
    clusters: tuple[Cluster, Cluster], hub: tuple[httpx.AsyncClient, object]
) -> None:
    primary, replica = clusters
    client, replicas = hub
    original = await _name(client)
    served = replicas.replicas[0].served  # type: ignore[attr-defined]
    assert (await _name(client)) == original
    assert replicas.replicas[0].served > served  # type: ignore[attr-defined]

    # The replica stops replaying: queries see its old value while it is within the lag
    # allowed, proof that they read it; past the lag they read the primary.
    await _execute(replica.dsn, "SELECT pg_wal_replay_pause()")
    await _execute(primary.dsn, "UPDATE region SET name = 'Nama baru' WHERE code = '53'")
    assert await _name(client) == original  # read on the replica
    await _until(lambda: _is_name(client, "Nama baru"), "queries to leave the lagging replica")
    await _execute(replica.dsn, "SELECT pg_wal_replay_resume()")

    # Killed: queries keep working on the primary.
    replica.ctl("-m", "immediate", "stop")
    for _ in range(5):
        assert await _name(client) == "Nama baru"
    # Restarted: used again once it has caught up.
    replica.start()
    await _until(lambda: _healthy(replicas), "the restarted replica to be used again")
    served = replicas.replicas[0].served  # type: ignore[attr-defined]
    assert await _name(client) == "Nama baru"
    assert replicas.replicas[0].served > served  # type: ignore[attr-defined]


async def _is_name(client: httpx.AsyncClient, name: str) -> bool:
    return await _name(client) == name


async def _healthy(replicas: object) -> bool:
    return bool(replicas.replicas[0].healthy)  # type: ignore[attr-defined]


async def test_a_replica_behind_an_events_commit_is_not_used_for_it(
    hub: tuple[httpx.AsyncClient, object],
) -> None:
    _, replicas = hub
    replica = replicas.replicas[0]  # type: ignore[attr-defined]
    await _until(lambda: _healthy(replicas), "a healthy replica")
    primary = replicas.primary  # type: ignore[attr-defined]
    assert replicas.engine(at=replica.replayed + 1) is primary  # type: ignore[attr-defined]
    assert replicas.engine(at=replica.replayed) is replica.engine  # type: ignore[attr-defined]
    replicas.pin("key:abcd1234")  # type: ignore[attr-defined]
    assert replicas.engine(viewer="key:abcd1234") is primary  # type: ignore[attr-defined]
    assert replicas.engine(viewer="key:other") is replica.engine  # type: ignore[attr-defined]
