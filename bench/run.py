"""Every benchmark in one command, one line per figure, exit 1 when a target is missed.

    bench/run [--quick]        (= .venv/bin/python -m bench.run)

It runs `bench.chain`, `bench.sync` and `bench.subscriptions` as they are run on their own
(each prints its full report first), reads their result lines and prints:

    name | ours | baseline | ratio | target | met

Baselines are measured in the same run: the hand-written floor (asyncpg + orjson) for the
deep chain, asyncpg COPY for the initial sync, Strawberry's stock WebSocket handler for
subscriptions. PostGraphile 5 is the peer of the deep chain, on the same database in the
same run: hub/PostGraphile must be ≤ 1.0 for latency and ≥ 2.0 for throughput. The hub's
own compiled statement, run in process, is the second floor of the deep chain: the hub's
median latency must be within 1.15× of it. `--quick`
uses the quick modes of the chain and subscription benches (about 4 minutes on 2 cores);
the sync runs at province scale either way, the scale its target is set at. The targets
are docs/performance.md's. `--ntt` runs only `bench.ntt` instead: the demo at NTT scale
(23 Pemda) end to end, with its three targets (idle sync cycle, dashboard, legacy change to
subscriber). When PostGraphile could not be measured (no Node or npm, say),
its lines say why and count as missed, not left out.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Line:
    name: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None  # None: information only


def _chain(output: str) -> list[Line]:
    lines = []
    for first in (100, 1000):
        latency = re.search(
            rf"chain first={first} latency p50: hub ([\d.]+) ms\s+floor ([\d.]+) ms", output
        )
        throughput = re.search(
            rf"chain first={first} throughput c=(\d+): hub ([\d.]+) req/s\s+floor ([\d.]+) req/s",
            output,
        )
        if latency:
            hub, floor = float(latency.group(1)), float(latency.group(2))
            lines.append(
                Line(f"deep chain first={first} latency p50", f"{hub:.0f} ms",
                     f"floor {floor:.0f} ms", hub / floor, "≤ 2.0× floor", hub / floor <= 2.0)
            )  # fmt: skip
        if throughput:
            c, hub, floor = (
                throughput.group(1),
                float(throughput.group(2)),
                float(throughput.group(3)),
            )
            lines.append(
                Line(f"deep chain first={first} throughput c={c}", f"{hub:.2f} req/s",
                     f"floor {floor:.2f} req/s", floor / hub, "≤ 2.0× floor", floor / hub <= 2.0)
            )  # fmt: skip
        lines += _compiled(output, first)
        lines += _postgraphile(output, first)
    return lines


def _compiled(output: str, first: int) -> list[Line]:
    """The hub against its own compiled statement run in process: the approach's limit."""
    latency = re.search(
        rf"chain first={first} latency p50: hub ([\d.]+) ms\s+compiled ([\d.]+) ms", output
    )
    breakdown = re.search(rf"chain first={first} breakdown p50: (.*)$", output, re.MULTILINE)
    lines = []
    if latency:
        hub, floor = float(latency.group(1)), float(latency.group(2))
        lines.append(
            Line(f"deep chain first={first} latency p50 vs its statement", f"{hub:.1f} ms",
                 f"compiled {floor:.1f} ms", hub / floor, "≤ 1.15× compiled",
                 hub / floor <= 1.15)
        )  # fmt: skip
    if breakdown:
        print(f"first={first} where the time goes: {breakdown.group(1)}")
    return lines


def _postgraphile(output: str, first: int) -> list[Line]:
    """The hub against PostGraphile 5 on the same database: hub/PostGraphile both ways."""
    latency = re.search(
        rf"chain first={first} latency p50: hub ([\d.]+) ms\s+postgraphile ([\d.]+) ms", output
    )
    throughput = re.search(
        rf"chain first={first} throughput c=(\d+): hub ([\d.]+) req/s\s+"
        rf"postgraphile ([\d.]+) req/s",
        output,
    )
    lines = []
    if latency:
        hub, peer = float(latency.group(1)), float(latency.group(2))
        lines.append(
            Line(f"deep chain first={first} latency p50 vs PostGraphile 5", f"{hub:.0f} ms",
                 f"PostGraphile {peer:.0f} ms", hub / peer, "hub/PostGraphile ≤ 1.0",
                 hub / peer <= 1.0)
        )  # fmt: skip
    if throughput:
        c, hub, peer = throughput.group(1), float(throughput.group(2)), float(throughput.group(3))
        lines.append(
            Line(f"deep chain first={first} throughput c={c} vs PostGraphile 5",
                 f"{hub:.2f} req/s", f"PostGraphile {peer:.2f} req/s", hub / peer,
                 "hub/PostGraphile ≥ 2.0", hub / peer >= 2.0)
        )  # fmt: skip
    if latency and throughput:
        return lines
    # Not measured (no Node or npm, it failed, or the bench stopped first): missed, with why.
    missing = re.search(rf"chain first={first} postgraphile: not measured \((.*)\)$", output,
                        re.MULTILINE)  # fmt: skip
    why = missing.group(1) if missing else "no PostGraphile figures in the output"
    for name, target in (("latency p50", "hub/PostGraphile ≤ 1.0"),
                         ("throughput", "hub/PostGraphile ≥ 2.0")):  # fmt: skip
        if any(line.name.startswith(f"deep chain first={first} {name}") for line in lines):
            continue
        lines.append(
            Line(f"deep chain first={first} {name} vs PostGraphile 5", "-",
                 f"not measured: {why}"[:60], None, target, False)
        )  # fmt: skip
    return lines


def _sync(output: str) -> list[Line]:
    sync = re.search(r"initial sync: ([\d,]+) rows in ([\d.]+) s", output)
    copy = re.search(r"floor COPY: ([\d,]+) rows in ([\d.]+) s", output)
    changes = re.search(r"incremental sync: ([\d,]+) changes in ([\d.]+) s", output)
    # The history and outbox rows the sync writes beside the canonical ones, as COPY.
    records = re.search(r"\+ COPY the sync's change_history and outbox rows +([\d.]+) s", output)
    lines = []
    if sync and copy:
        ours, floor = float(sync.group(2)), float(copy.group(2))
        lines.append(
            Line(f"initial sync ({sync.group(1)} rows)", f"{ours:.1f} s", f"COPY {floor:.1f} s",
                 ours / floor, "≤ 2.0× COPY (≥ 0.5× its speed)", ours / floor <= 2.0)
        )  # fmt: skip
        if records:
            both = floor + float(records.group(1))
            lines.append(
                Line("initial sync, with its history and outbox rows", f"{ours:.1f} s",
                     f"COPY {both:.1f} s", ours / both, "information", None)
            )  # fmt: skip
    if changes:
        seconds = float(changes.group(2))
        lines.append(
            Line(f"incremental sync ({changes.group(1)} changes)", f"{seconds:.2f} s", "-",
                 None, "information", None)
        )  # fmt: skip
    return lines


def _subscriptions(output: str) -> list[Line]:
    lines = []
    for match in re.finditer(
        r"^(province|firehose) N=(\d+): p99 ([\d.]+) s, (\d+) frames, ([\d,]+) frames per server "
        r"CPU second(?:; stock handler at N=\d+: ([\d,]+) frames/CPU s)?",
        output,
        re.MULTILINE,
    ):
        mix, n, p99 = match.group(1), int(match.group(2)), float(match.group(3))
        rate = float(match.group(5).replace(",", ""))
        stock = float(match.group(6).replace(",", "")) if match.group(6) else None
        target = "p99 < 1 s" if (mix == "province" and n == 5000) else "information"
        lines.append(
            Line(f"subscriptions {mix} N={n} p99", f"{p99:.3f} s",
                 f"stock {stock:,.0f} frames/CPU s" if stock else "-",
                 rate / stock if stock else None, target,
                 (p99 < 1.0) if target != "information" else None)
        )  # fmt: skip
    return lines


def _ntt(output: str) -> list[Line]:
    """`bench.ntt`: NTT scale end to end; three targets, the rest information."""
    lines = []
    info = (
        (r"^ntt estate generation: ([\d.]+ s) wall", "estate generation"),
        (r"^ntt initial sync: ([\d,]+) rows read in ([\d.]+ s) wall, ([\d.]+ s) CPU", None),
        (r"^ntt rules run \(full\):.* found in ([\d.]+ s) wall", "rules run (full)"),
    )
    for pattern, name in info:
        found = re.search(pattern, output, re.MULTILINE)
        if found and name is None:
            lines.append(
                Line(f"NTT initial sync ({found.group(1)} rows)", found.group(2),
                     f"CPU {found.group(3)}", None, "information", None)
            )  # fmt: skip
        elif found and name is not None:
            lines.append(Line(f"NTT {name}", found.group(1), "-", None, "information", None))
    idle = [
        float(m.group(1))
        for m in re.finditer(r"^ntt idle sync cycle \d+: .*?= ([\d.]+)% of one core", output,
                             re.MULTILINE)
    ]  # fmt: skip
    if idle:
        worst = max(idle)
        lines.append(
            Line("NTT idle sync cycle, sync process CPU (worst of 3)", f"{worst:.0f}% core",
                 "-", None, "< 25% of one core at 3 s", worst < 25)
        )  # fmt: skip
    page = re.search(r"^ntt dashboard province page: API calls (\d+) ms", output, re.MULTILINE)
    if page:
        total = int(page.group(1))
        lines.append(
            Line("NTT dashboard province page, API calls", f"{total} ms", "-", None,
                 "< 300 ms", total < 300)
        )  # fmt: skip
    for m in re.finditer(r"^ntt deep chain first=(\d+): p50 (\d+) ms, p99 (\d+) ms", output,
                         re.MULTILINE):  # fmt: skip
        lines.append(
            Line(f"NTT deep chain first={m.group(1)} p50", f"{m.group(2)} ms",
                 f"p99 {m.group(3)} ms", None, "information", None)
        )  # fmt: skip
    live = re.search(r"^ntt legacy change → subscriber: p50 (\d+) ms, p99 (\d+) ms", output,
                     re.MULTILINE)  # fmt: skip
    if live:
        p99 = int(live.group(2))
        lines.append(
            Line("NTT legacy change → subscriber p99", f"{p99} ms", f"p50 {live.group(1)} ms",
                 None, "< 2 s at a 3 s sync interval", p99 < 2000)
        )  # fmt: skip
    return lines


Parser = Callable[[str], list[Line]]


def benches(quick: bool, ntt: Sequence[str] | None = None) -> list[tuple[str, list[str], Parser]]:
    py = [sys.executable, "-m"]
    if ntt is not None:
        return [("ntt", [*py, "bench.ntt", *ntt], _ntt)]
    return [
        ("chain", [*py, "bench.chain", *(["--quick"] if quick else [])], _chain),
        (
            "sync",
            [*py, "bench.sync", "--scale", "province"],
            _sync,
        ),
        ("subscriptions", [*py, "bench.subscriptions", *(["--quick"] if quick else [])],
         _subscriptions),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the chain and subscription benches' quick modes (~4 min)",
    )
    parser.add_argument(
        "--ntt",
        action="store_true",
        help="only the NTT-scale run (bench.ntt: 23 Pemda end to end); options after it go "
        "to bench.ntt, e.g. --years 1",
    )
    args, extra = parser.parse_known_args(argv)
    if extra and not args.ntt:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    began = time.perf_counter()
    results: list[Line] = []
    failed: list[str] = []
    for name, command, parse in benches(args.quick, extra if args.ntt else None):
        print(f"=== {name}: {' '.join(command[1:])}", flush=True)
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        sys.stdout.write(run.stdout)
        sys.stdout.flush()
        if run.returncode != 0:
            failed.append(f"{name} exited {run.returncode}: {run.stderr.strip()[-300:]}")
        found = parse(run.stdout)
        if not found:
            failed.append(f"{name}: no result lines found")
        results += found
    print()
    print(f"{'benchmark':<56} {'ours':>12} {'baseline':>32} {'ratio':>8}  target")
    for line in results:
        ratio = f"{line.ratio:.2f}×" if line.ratio is not None else "-"
        verdict = "" if line.met is None else ("met" if line.met else "MISSED")
        print(
            f"{line.name:<56} {line.ours:>12} {line.baseline:>32} {ratio:>8}  "
            f"{line.target} {verdict}"
        )
    for problem in failed:
        print(f"FAILED {problem}")
    missed = [line.name for line in results if line.met is False]
    print(
        f"{len(results)} figures, {len(missed)} targets missed, {len(failed)} benches failed, "
        f"{time.perf_counter() - began:.0f} s"
    )
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
