"""`rantai keys` and `rantai audit`: API keys, and the audit log of what they did."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from hub.cli.common import DataDir, Init, fail, load_settings, run_migrations, store, with_conn
from hub.db import asyncpg_dsn
from hub.settings import Settings

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


@keys_app.command("create", short_help="Create an API key; it is printed once, on the last line.")
def keys_create(
    role: Annotated[
        str,
        typer.Option(
            help="province, inspector (the Inspektorat; --region for one Pemda), regency, opd, "
            "public, metrics (reads /metrics) or admin (the operators' console)."
        ),
    ],
    region: Annotated[
        str | None, typer.Option(help="Kode Pemda (regency, opd; inspector of one Pemda).")
    ] = None,
    opd: Annotated[str | None, typer.Option(help="Kode OPD (opd role).")] = None,
    label: Annotated[str | None, typer.Option(help="Who or what the key is for.")] = None,
    feed: Annotated[
        bool,
        typer.Option(
            "--feed",
            help="A feed token: reads the agenda's iCalendar feed (/agenda/CODE.ics?token=…) "
            "and nothing else; revocable like any key.",
        ),
    ] = False,
    data_dir: DataDir = None,
    init: Init = False,
) -> None:
    """Create an API key; the key itself is printed once, on the last line."""
    from hub.auth import AuthError, check_role
    from hub.auth import keys as api_keys

    settings = load_settings(data_dir)
    try:
        checked = check_role(role, region, opd)
    except AuthError as exc:
        raise fail(str(exc)) from None
    if feed and checked.value in ("admin", "metrics"):
        raise fail(f"a feed token reads the agenda; role {checked.value} has none")
    with store(settings, create=init) as url:
        run_migrations(url)
        key, prefix = asyncio.run(
            with_conn(
                url,
                lambda c: api_keys.create(
                    c, settings.secret_key, role, region, opd, label, feed=feed
                ),
            )
        )
    scope = " ".join(x for x in (role, region, opd) if x)
    what = "feed token" if feed else "API key"
    typer.echo(f"created {what} {prefix} ({scope}); store it now, it is not shown again:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, init: Init = False) -> None:
    """Every key: prefix, role, scope, label, created, revoked."""
    from hub.auth import keys as api_keys

    settings = load_settings(data_dir)
    with store(settings, create=init) as url:
        run_migrations(url)
        rows = asyncio.run(with_conn(url, api_keys.listing))
    for r in rows:
        state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
        scope = "/".join(x for x in (r["region_code"], r["opd_code"]) if x) or "-"
        typer.echo(
            f"rk_{r['prefix']}  {r['role']:<9} {scope:<32} {state:<24} "
            f"{r['created_at']:%Y-%m-%d %H:%M}  {r['label'] or ''}"
        )


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (rk_xxxxxxxx) or the key.")],
    data_dir: DataDir = None,
    init: Init = False,
) -> None:
    """Revoke a key: it stops working at once, in every process."""
    from hub.auth import keys as api_keys

    settings = load_settings(data_dir)
    with store(settings, create=init) as url:
        run_migrations(url)
        done = asyncio.run(
            with_conn(url, lambda c: api_keys.revoke(c, settings.secret_key, prefix))
        )
        if done:
            asyncio.run(_announce_revocation(settings, url, prefix))
    if not done:
        raise fail(f"no active key {prefix}")
    typer.echo(f"revoked {prefix}")


async def _announce_revocation(settings: Settings, url: str, prefix: str) -> None:
    """Tell every serving process at once (PostgreSQL's broker was told by the revoking
    transaction itself; Redis and NATS are told here). Open sockets also check their key
    again on their own, so a lost message costs at most that interval."""
    from hub.events.broker import KEYS, PostgresBroker, broker_for

    broker = broker_for(settings.broker_url, asyncpg_dsn(url))
    if isinstance(broker, PostgresBroker):
        return
    try:
        await broker.publish(KEYS, prefix.removeprefix("rk_").split("_")[0])
    except Exception as exc:
        typer.echo(f"rantai: could not tell the {broker.kind} broker ({exc})", err=True)
    finally:
        await broker.close()


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify", short_help="Check every record of the audit chain; exit 1 if broken.")
def audit_verify(data_dir: DataDir = None, init: Init = False) -> None:
    """Walk the audit chain; print every record that was edited and every break where one
    was removed or reordered, and exit 1 if there is any."""
    from hub.auth.audit import verify

    settings = load_settings(data_dir)
    with store(settings, create=init) as url:
        run_migrations(url)
        report = asyncio.run(with_conn(url, lambda c: verify(c, settings.secret_key)))
    for record, why in report.problems:
        typer.echo(f"audit log: record {record}: {why}")
    if not report.intact:
        typer.echo(f"audit log broken: {len(report.problems)} problems in {report.checked} records")
        raise typer.Exit(code=1)
    typer.echo(f"audit log intact: {report.checked} records")
