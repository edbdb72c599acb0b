"""What the CLI prints: sync progress bars and tables of sources (rich)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.sync.reports import ProgressCallback, SourceReport, SyncProgress

console = Console(stderr=True)  # progress and messages
out = Console()  # tables: the command's output
for _c in (console, out):
    if not _c.is_terminal:  # logs and CI: wide enough that tables are not truncated
        _c.width = 160

STATUS_STYLE = {"OK": "green", "DEGRADED": "yellow", "DOWN": "bold red", "BUSY": "cyan"}


@contextmanager
def sync_progress(source_ids: Sequence[str]) -> Iterator[ProgressCallback]:
    """One bar per source: rows read so far and the stream being read."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[source]:<16}"),
        BarColumn(bar_width=None, pulse_style="cyan"),
        TextColumn("{task.completed:>9,.0f} rows"),
        TextColumn("{task.fields[stream]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks = {s: progress.add_task("", total=None, source=s, stream="waiting") for s in source_ids}
    base: dict[str, int] = {s: 0 for s in source_ids}
    last: dict[tuple[str, str], int] = {}

    def update(event: SyncProgress) -> None:
        task = tasks.get(event.source)
        if task is None:
            return
        seen = last.get((event.source, event.stream), 0)
        base[event.source] += event.read - seen
        last[(event.source, event.stream)] = event.read
        stream = event.stream if not event.error else f"[red]{event.stream} failed"
        progress.update(task, completed=base[event.source], stream=stream)

    with progress:
        yield update
        for source, task in tasks.items():
            progress.update(task, total=max(base[source], 1), completed=max(base[source], 1))


REPORT_COLUMNS = ("read", "created", "updated", "deleted", "from queue", "waiting", "s")


def report_table(reports: Sequence[SourceReport]) -> Table:
    """Per source: rows read from it; created, updated and deleted (those stored from the
    waiting queue included, and counted again in "from queue"); rows still waiting."""
    table = Table(title="sync", title_justify="left")
    for name in ("source", "status", *REPORT_COLUMNS):
        table.add_column(name, justify="left" if name in ("source", "status") else "right")
    table.add_column("error / made for the rows", overflow="fold")
    for r in reports:
        style = STATUS_STYLE.get(r.status, "")
        queue = [s for s in r.streams if s.mode == "waiting"]
        derived: dict[str, int] = {}
        for stream in r.streams:
            for entity, n in stream.derived.items():
                derived[entity] = derived.get(entity, 0) + n
        made = ", ".join(f"{n:,} {entity}" for entity, n in sorted(derived.items()))
        table.add_row(
            r.source,
            f"[{style}]{r.status}[/]" if style else r.status,
            f"{r.read:,}",
            f"{sum(s.created for s in r.streams):,}",
            f"{sum(s.updated for s in r.streams):,}",
            f"{sum(s.deleted for s in r.streams):,}",
            f"{sum(s.created + s.updated for s in queue):,}",
            f"{r.waiting:,}",
            f"{r.seconds:.1f}",
            r.error or (f"made: {made}" if made else ""),
        )
    return table


SEVERITY_STYLE = {"CRITICAL": "bold red", "WARNING": "yellow", "INFO": "cyan"}


def discrepancy_table(counts: Sequence[tuple[str, str, int, int]]) -> Table:
    """Per rule: severity, open and resolved ketimpangan."""
    table = Table(title="ketimpangan", title_justify="left")
    for name in ("rule", "severity", "open", "resolved"):
        table.add_column(name, justify="left" if name in ("rule", "severity") else "right")
    for rule, severity, open_, resolved in counts:
        style = SEVERITY_STYLE.get(severity, "")
        table.add_row(rule, f"[{style}]{severity}[/]", f"{open_:,}", f"{resolved:,}")
    return table


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = int((datetime.now(UTC) - when).total_seconds())
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def last_run(read: int | None, stored: int | None) -> str:
    """Whether the last run stored anything: "stored 5 of 12 read", "stored nothing"."""
    if read is None or stored is None:
        return "never ran"
    if read and not stored:
        return f"[yellow]stored nothing of {read:,} read[/]"
    return f"stored {stored:,} of {read:,} read"


def sources_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Configured sources and their health as the store records it: rows waiting and the
    commonest reasons, and whether the last run stored anything."""
    table = Table(title="sources", title_justify="left")
    names = ("source", "kind", "status", "stale", "last success", "last run", "rows", "waiting")
    for name in names:
        table.add_column(name, justify="right" if name in ("rows", "waiting") else "left")
    table.add_column("entities / last error / why rows wait", overflow="fold")
    for r in rows:
        status = r["status"]
        style = STATUS_STYLE.get(status, "")
        reasons = r.get("waiting_reasons") or []
        why = "; ".join(f"{x['count']:,} × {x['reason']} (e.g. {x['example']})" for x in reasons)
        if r.get("last_upload_file"):
            uploaded = f"last upload: {r['last_upload_file']}, {_ago(r['last_upload_at'])}"
            why = f"{why}; {uploaded}" if why else f"{r['entities']}; {uploaded}"
        table.add_row(
            r["id"],
            r["kind"],
            f"[{style}]{status}[/]" if style else status,
            "[yellow]yes[/]" if r["stale"] else "no",
            _ago(r["last_success_at"]),
            last_run(r.get("last_run_read"), r.get("last_run_stored")),
            f"{r['rows']:,}",
            f"{r['waiting']:,}",
            f"[red]{r['last_error']}[/]"
            if r["last_error"] and status == "DOWN"
            else (why or r["entities"]),
        )
    return table
