"""Rate-limit benchmark of issue #5: the price assets against a simulator that enforces fixed server-side limits.

Usage::

    .venv/bin/python bench/ratelimit.py [--yahoo-limit 50] [--binance-limit 20] [--freqtrade PATH] [--json FILE]

The simulator (profile ``default``, seed 42) runs in a thread with a fixed token-bucket limit on Yahoo's chart host
(requests per second) and on Binance (request weight per second, as Binance counts it: a klines call weighs 2).
lumia's own budget for both hosts (``LUMIA_RATE_LIMITS``) is set ABOVE the server's limit, so its AIMD limiter has
to find the server's rate from the 429s itself. The hosts the simulator does not limit (Kraken, Coinbase) get budgets
well above lumia's production defaults so that they do not pace the crypto stage.

Stages (each a subprocess driven by ``bench/backfill.py materialize``, on one persistent temp ``DAGSTER_HOME`` and a
SQLite warehouse in a temp dir):

1. the universes (setup, not measured);
2. ``equity_daily_prices`` for the latest closed NYSE session, and ``crypto_daily_prices`` for the latest closed UTC
   day, over the full universe; per limited host: achieved rate / allowed rate, the steady-state rate over the middle
   80% of the host's request span, the share of 429s, and wall time against the lower bound (cost of the admitted
   requests / allowed rate);
3. the peer: with ``LUMIA_CRYPTO_EXCHANGES=binance`` (a separate warehouse), lumia's ``crypto_daily_prices`` over the
   last ``--peer-days`` days against ``freqtrade download-data`` of the same pairs and days, both against the same
   rate-limited simulator; wall-time ratio and klines requests of each. lumia has no option to restrict a run to a
   subset of pairs, so both fetch every active Binance pair.

``--bound-cases [a,b,c]`` runs instead the bound runs of issue 12, item 4 ("rate-bound runs finish at the bound")::

    nice -n 5 .venv/bin/python bench/ratelimit.py --bound-cases [--bound-pairs 300,2000] [--bound-days 365]
        [--bound-rate 10] [--freqtrade /tmp/ft-venv/bin/freqtrade|''] [--json FILE]

With ``LUMIA_CRYPTO_EXCHANGES=binance``, per N (``--bound-pairs``): ``crypto_universe`` once, without a server limit,
into a template SQLite warehouse, cut down to the first N active pairs by symbol (lumia has no setting for that: the
bench sets ``assets.active = 0`` for the others with SQL); then per case, on a copy of that warehouse and a fresh
``DAGSTER_HOME`` (holding the repo's ``dagster.yaml``, the instance ``lumia`` installs), the timed subprocess is
``dagster asset materialize -m lumia_assets.definitions --select crypto_daily_prices --partition-range A...B`` over
the last ``--bound-days`` closed UTC days: start-up, the price step and its asset checks. The server allows R
requests/s (``--bound-rate``) on api.binance.com; lumia's budget is above it (``--bound-budget``, default 1.5R:3R):

(a) 429 with ``Retry-After`` (``--retry-after``, 1 s) beyond R requests/s, whatever a request's weight;
(b) the same 429s without ``Retry-After`` (as Yahoo's): the server still refuses for ``--retry-after`` seconds;
(c) Binance's way: the limit is 2R weight/s (a klines call weighs 2, exchangeInfo 20, as the simulator charges
    them), every answer carries ``X-MBX-USED-WEIGHT-1M``, the 429s carry ``Retry-After``.

The bound is admitted cost / the server's limit + 10 s (admitted requests / R for (a) and (b), admitted weight /
2R for (c); 429s are not counted in, they are the waste); a run meets it when its wall time is within 1.2x, it exited
0 and every pair was asked for. The timeline of each run (CLI start-up to RUN_START, each step's launch, start and
end, the first and last request) comes from the run's Dagster event log and the simulator's log. With
``--freqtrade``, ``freqtrade download-data`` of the same pairs and days runs after case (a) for N =
``--bound-peer-pairs`` (300) against the same limit, afresh; target lumia / freqtrade <= 0.55.

The simulator (profile ``default``, seed 42) lists 2,156 Binance pairs instead of the profile's 1,200 (about 2,080
active instead of 1,165; ``--bound-sim-pairs``, ``SimConfig.crypto_pairs``), the same universe whatever N, and its
history starts 30 days before the range (``--bound-history-days``; an NYSE session, as its equities need): its klines
answer walks the pair's whole history row by row, about 170 ms CPU a call from 2018-01-02 and 50 ms from a month
before the range, so the default history alone would cap it at ~6 calls/s on a whole core, below R. The bench
prints that cost first, and warns when the simulator cannot serve 3R on a core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from backfill import (
    Report,
    Runner,
    Stage,
    count_feather_rows,
    freqtrade_config,
    klines_per_pair,
    log,
    run_subprocess,
)

from lumia_assets.calendars import equity_sessions, last_closed_crypto_day, last_closed_equity_session
from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets.sim.binance import WEIGHTS as BINANCE_WEIGHTS
from lumia_assets.sim.protocol import SimRequest
from lumia_assets.sim.requestlog import RequestRecord

REPO = Path(__file__).resolve().parent.parent
SEED = 42
YAHOO_HOST = "query2.finance.yahoo.com"
BINANCE_HOST = "api.binance.com"
KLINES_PATH = "/api/v3/klines"
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
UNLIMITED_BUDGETS = "api.kraken.com=50:50,api.exchange.coinbase.com=50:50"  # hosts the simulator does not limit
THROTTLED = (429, 418)
STEADY_SHARE = 0.8  # the steady-state rate is measured over the middle 80% of a host's request span
TARGETS = {"rate_ratio": 0.9, "share_429": 0.01, "time_ratio": 1.15, "peer_ratio": 0.6}


@dataclass(frozen=True)
class ServerLimit:
    """A fixed limit the simulator enforces on ``host``: ``rate`` cost units per second (weights for Binance)."""

    host: str
    rate: float
    burst: float
    retry_after: float
    weight_header: str | None = None
    ban_after: int | None = None
    send_retry_after: bool = True  # False: the 429s carry no Retry-After (as Yahoo's)
    weighted: bool = True  # False: every request costs 1 (a requests-per-second limit), whatever its weight

    def apply(self, sim: MarketSimulator) -> None:
        """Set the limit afresh: a full bucket, no penalty window in force."""
        sim.rate_limits.set(
            self.host,
            self.rate,
            burst=self.burst,
            retry_after=self.retry_after,
            weight_header=self.weight_header,
            ban_after=self.ban_after,
            send_retry_after=self.send_retry_after,
            weighted=self.weighted,
        )


@dataclass
class HostFigures:
    """What one limited host saw during one stage, in the server's cost units (requests, or Binance weight)."""

    stage: str
    host: str
    allowed: float  # the server's limit, cost units per second
    wall_s: float  # the stage's wall time (subprocess start to exit)
    span_s: float  # first to last request to the host
    admitted: int  # answered by the app (200 or 404...), i.e. not 429/418
    ok: int  # answered 200
    status_429: int
    status_418: int
    admitted_cost: float
    ok_cost: float
    steady_rate: float  # admitted cost per second over the middle 80% of the span

    @property
    def achieved(self) -> float:
        return self.admitted_cost / self.wall_s if self.wall_s else 0.0

    @property
    def achieved_200(self) -> float:
        return self.ok_cost / self.wall_s if self.wall_s else 0.0

    @property
    def rate_ratio(self) -> float:
        return self.achieved / self.allowed

    @property
    def steady_ratio(self) -> float:
        return self.steady_rate / self.allowed

    @property
    def share_429(self) -> float:
        total = self.admitted + self.status_429 + self.status_418
        return self.status_429 / total if total else 0.0

    @property
    def lower_bound_s(self) -> float:
        return self.admitted_cost / self.allowed

    @property
    def time_ratio(self) -> float:
        return self.wall_s / self.lower_bound_s if self.lower_bound_s else 0.0

    @property
    def span_ratio(self) -> float:
        return self.span_s / self.lower_bound_s if self.lower_bound_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        properties = ("achieved", "achieved_200", "rate_ratio", "steady_ratio", "share_429", "lower_bound_s")
        return asdict(self) | {name: getattr(self, name) for name in (*properties, "time_ratio", "span_ratio")}


def cost_of(sim: MarketSimulator, record: RequestRecord, weighted: bool = True) -> int:
    """The record's cost against the host's limit: its Binance request weight (when the limit is weighted), else 1."""
    weight = getattr(sim.server.apps.get(record.host), "weight", None) if weighted else None
    if weight is None:
        return 1
    return int(weight(SimRequest(record.method, record.host, record.path, record.query_string)))


def steady_rate(records: Sequence[RequestRecord], costs: Sequence[int]) -> float:
    """Admitted cost per second in the middle ``STEADY_SHARE`` of the span of ``records`` (all statuses)."""
    if len(records) < 2:
        return 0.0
    first, last = records[0].ts, records[-1].ts
    margin = (last - first) * (1 - STEADY_SHARE) / 2
    low, high = first + margin, last - margin
    inside = sum(c for r, c in zip(records, costs, strict=True) if low <= r.ts <= high and r.status not in THROTTLED)
    return inside / (high - low) if high > low else 0.0


def host_figures(sim: MarketSimulator, stage: Stage, limit: ServerLimit) -> HostFigures:
    """The figures of ``limit.host`` from the simulator's log of ``stage`` (the log holds that stage only)."""
    records = sorted(sim.requests(limit.host), key=lambda r: r.ts)
    costs = [cost_of(sim, r) for r in records]
    admitted = [(r, c) for r, c in zip(records, costs, strict=True) if r.status not in THROTTLED]
    return HostFigures(
        stage=stage.name,
        host=limit.host,
        allowed=limit.rate,
        wall_s=stage.wall_seconds,
        span_s=records[-1].ts - records[0].ts if records else 0.0,
        admitted=len(admitted),
        ok=sum(1 for r, _ in admitted if r.status == 200),
        status_429=sum(1 for r in records if r.status == 429),
        status_418=sum(1 for r in records if r.status == 418),
        admitted_cost=sum(c for _, c in admitted),
        ok_cost=sum(c for r, c in admitted if r.status == 200),
        steady_rate=steady_rate(records, costs),
    )


def describe(figures: HostFigures) -> str:
    f = figures
    return (
        f"{f.stage} {f.host}: allowed {f.allowed:g}/s; {f.admitted} admitted ({f.ok} x 200), {f.status_429} x 429, "
        f"{f.status_418} x 418; cost {f.admitted_cost:g}; achieved {f.achieved:.2f}/s "
        f"(200s only {f.achieved_200:.2f}/s) = {f.rate_ratio:.3f} of allowed; "
        f"steady {f.steady_rate:.2f}/s = {f.steady_ratio:.3f}; 429 share "
        f"{f.share_429:.2%}; wall {f.wall_s:.1f}s, request span {f.span_s:.1f}s, lower bound {f.lower_bound_s:.1f}s "
        f"-> time ratio {f.time_ratio:.3f} (span {f.span_ratio:.3f})"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def figures_table(rows: Sequence[HostFigures]) -> list[str]:
    """The Markdown table of the full-universe stages."""
    lines = [
        "| stage | host | allowed /s | admitted (200) | 429 | 418 | achieved /s | rate ratio | steady /s | steady "
        "ratio | 429 share | wall s | span s | lower bound s | time ratio | span ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        lines.append(
            f"| {f.stage} | {f.host} | {f.allowed:g} | {f.admitted:,} ({f.ok:,}) | {f.status_429} | {f.status_418} | "
            f"{f.achieved:.2f} | {f.rate_ratio:.3f} {verdict(f.rate_ratio >= TARGETS['rate_ratio'])} | "
            f"{f.steady_rate:.2f} | {f.steady_ratio:.3f} | {f.share_429:.2%} "
            f"{verdict(f.share_429 < TARGETS['share_429'])} | {f.wall_s:.1f} | {f.span_s:.1f} | {f.lower_bound_s:.1f} "
            f"| {f.time_ratio:.3f} {verdict(f.time_ratio <= TARGETS['time_ratio'])} | {f.span_ratio:.3f} |"
        )
    return lines


def freqtrade_args(freqtrade: str, config: Path, pairs: list[str], start: date, end: date, workdir: Path) -> list[str]:
    """``freqtrade download-data`` of ``pairs``' daily candles from ``start`` to ``end`` inclusive."""
    timerange = f"{start:%Y%m%d}-{end + timedelta(days=1):%Y%m%d}"
    return [
        freqtrade, "download-data", "-c", str(config), "--timeframes", "1d",
        "--timerange", timerange, "--datadir", str(workdir / "ft-data"), "--userdir", str(workdir / "ft-user"),
        "--data-format-ohlcv", "feather", "--pairs", *pairs,
    ]  # fmt: skip


def klines_summary(sim: MarketSimulator) -> dict[str, int]:
    """Klines requests in the simulator's log: total, answered, 429 and 418."""
    records = sim.requests(BINANCE_HOST, KLINES_PATH)
    return {
        "klines": len(records),
        "klines_admitted": sum(1 for r in records if r.status not in THROTTLED),
        "klines_429": sum(1 for r in records if r.status == 429),
        "klines_418": sum(1 for r in records if r.status == 418),
        "pairs_asked": len(klines_per_pair(sim)),
    }


def peer(
    sim: MarketSimulator,
    workdir: Path,
    report: Report,
    freqtrade: str,
    days: int,
    day: date,
    budgets: str,
    timeout: int,
) -> dict[str, Any]:
    """lumia (Binance only) against freqtrade download-data, same pairs and days, same limited simulator."""
    from lumia_assets.defs.resources import warehouse_engine
    from lumia_assets.warehouse.store import active_symbols

    url = f"sqlite:///{workdir / 'warehouse_peer.db'}"
    runner = Runner(
        sim, "sqlite", url, workdir / "peer", report, LUMIA_CRYPTO_EXCHANGES="binance", LUMIA_RATE_LIMITS=budgets
    )
    runner.run("peer-universe", ["crypto_universe"])
    pairs = sorted(active_symbols(warehouse_engine(url), ("crypto",))["symbol"])
    start = day - timedelta(days=days - 1)
    lumia = runner.run("peer-lumia", ["crypto_daily_prices"], start, day)
    result: dict[str, Any] = {"pairs": len(pairs), "start": str(start), "end": str(day), "lumia": asdict(lumia)}
    result["lumia_requests"] = klines_summary(sim)
    config = freqtrade_config(sim.url, pairs, workdir / "freqtrade.json")
    args = freqtrade_args(freqtrade, config, pairs, start, day, workdir)
    (workdir / "ft-user").mkdir(exist_ok=True)
    result["freqtrade_command"] = " ".join(args[: -len(pairs)]) + f" <{len(pairs)} pairs>"
    sim.server.log.clear()
    log(f"freqtrade download-data of {len(pairs)} pairs, {start}..{day}")
    code, wall, _ = run_subprocess(["timeout", str(timeout), *args], dict(os.environ), workdir / "freqtrade.out")
    if code != 0:
        log(f"freqtrade exited with {code}: {(workdir / 'freqtrade.log').read_text()[-3000:]}")
    files = list((workdir / "ft-data").rglob("*-1d.feather"))
    result["freqtrade"] = {
        "exit": code,
        "wall_s": wall,
        "files": len(files),
        "candles": count_feather_rows(Path(freqtrade).parent / "python", files),
        **klines_summary(sim),
    }
    # Cut off by the timeout, freqtrade's wall time is a lower bound; extrapolate it by the pairs it stored.
    done = result["freqtrade"]["files"]
    result["freqtrade"]["wall_extrapolated_s"] = wall if code == 0 else (wall * len(pairs) / done if done else None)
    result["wall_ratio"] = lumia.wall_seconds / wall if wall else None
    extrapolated = result["freqtrade"]["wall_extrapolated_s"]
    result["wall_ratio_extrapolated"] = lumia.wall_seconds / extrapolated if extrapolated else None
    log(f"peer: {json.dumps({k: v for k, v in result.items() if k != 'lumia'})}")
    return result


def cut_off_note(result: dict[str, Any]) -> str:
    """When the timeout cut freqtrade off: the ratio is an upper bound; give the extrapolated one."""
    ft = result["freqtrade"]
    if ft["exit"] == 0:
        return ""
    return (
        f"; freqtrade was cut off (exit {ft['exit']}) after {ft['files']} of {result['pairs']} pairs, so this is an "
        f"upper bound; extrapolated by pairs stored: freqtrade {ft['wall_extrapolated_s'] or 0:.0f} s, ratio "
        f"{result['wall_ratio_extrapolated'] or 0:.3f}"
    )


def peer_table(result: dict[str, Any]) -> list[str]:
    lumia, ft = result["lumia"], result["freqtrade"]
    lr = result["lumia_requests"]
    ratio = result["wall_ratio"]
    return [
        "| tool | pairs | days | wall s | klines requests | admitted | 429 | 418 | stored |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| lumia crypto_daily_prices | {result['pairs']} | {result['start']}..{result['end']} | "
        f"{lumia['wall_seconds']:.1f} | {lr['klines']:,} | {lr['klines_admitted']:,} | {lr['klines_429']} | "
        f"{lr['klines_418']} | {lumia['rows_written']:,} rows, {lumia['symbols_covered']}/{lumia['symbols_expected']} "
        "symbols |",
        f"| freqtrade download-data | {result['pairs']} | same | {ft['wall_s']:.1f} | {ft['klines']:,} | "
        f"{ft['klines_admitted']:,} | {ft['klines_429']} | {ft['klines_418']} | {ft['candles']:,} candles in "
        f"{ft['files']} files (exit {ft['exit']}) |",
        "",
        f"wall-time ratio lumia/freqtrade: **{ratio:.3f}** (target <= {TARGETS['peer_ratio']}: "
        f"{verdict(ratio is not None and ratio <= TARGETS['peer_ratio'])}){cut_off_note(result)}",
    ]


# --- rate-bound runs finish at the bound (issue 12, item 4) ---------------------------------------------------------

BOUND_SLACK_S = 10.0  # start-up, the price step's own work and its asset checks
BOUND_FACTOR = 1.2  # the run's wall time must be within this factor of requests / R + BOUND_SLACK_S
KLINES_WEIGHT = BINANCE_WEIGHTS[KLINES_PATH]  # what the simulator charges a klines call against a weighted limit: 2
EXCHANGE_INFO_WEIGHT = BINANCE_WEIGHTS["/api/v3/exchangeInfo"]  # 20
PROFILE_BINANCE_PAIRS = 1_200  # the default profile's Binance (about 1,165 of them active)
BOUND_SIM_PAIRS = 2_156  # the simulator's Binance for the bound runs: ~2,080 active pairs, enough for N = 2,000
ACTIVE_SHARE = 0.95  # the share of a simulated exchange's pairs that is active, rounded down (3% are delisted)
PEER_TARGET = 0.55  # lumia / freqtrade wall time on the 300-pair year at 10 requests/s


@dataclass(frozen=True)
class BoundCase:
    """One server behaviour for the bound runs; the limit is R requests/s, or R klines' weight/s when weighted."""

    name: str
    description: str
    send_retry_after: bool = True
    weighted: bool = False  # the limit counts Binance weight (and the server sends X-MBX-USED-WEIGHT-1M)

    def limit(self, rate: float, retry_after: float) -> ServerLimit:
        if self.weighted:  # R klines per second is KLINES_WEIGHT * R weight; the burst lets exchangeInfo through
            weight_rate = KLINES_WEIGHT * rate
            return ServerLimit(
                BINANCE_HOST,
                weight_rate,
                max(weight_rate, EXCHANGE_INFO_WEIGHT),
                retry_after,
                WEIGHT_HEADER,
                weighted=True,
            )
        return ServerLimit(BINANCE_HOST, rate, max(rate, 1.0), retry_after, None, None, self.send_retry_after, False)


BOUND_CASES = {
    "a": BoundCase("a", "429 with Retry-After; limit in requests/s"),
    "b": BoundCase("b", "429 without Retry-After (as Yahoo's); limit in requests/s", send_retry_after=False),
    "c": BoundCase(
        "c",
        "Binance weight: X-MBX-USED-WEIGHT-1M on every answer, 429 with Retry-After; limit in "
        f"weight/s (klines weigh {KLINES_WEIGHT}, exchangeInfo {EXCHANGE_INFO_WEIGHT})",
        weighted=True,
    ),
}


@dataclass
class BoundRun:
    """One timed ``dagster asset materialize`` (or ``freqtrade download-data``) against one limited server."""

    tool: str
    case: str
    pairs: int
    start: str
    end: str
    rate: float  # R, requests/s (klines/s when the limit is in weight)
    server_limit: float  # what the server enforces: requests/s, or weight/s
    unit: str  # "requests" or "weight"
    exit_code: int
    wall_s: float
    requests: int  # every request to api.binance.com in the simulator's log, 429s included
    admitted: int  # answered by the app (not 429/418)
    status_429: int
    status_418: int
    admitted_cost: int  # admitted requests, or their weight
    klines_pairs: int  # distinct symbols asked for klines
    stored: str  # rows / candles stored
    load: tuple[float, float] = (0.0, 0.0)  # the 1-minute load average before and after the run (a shared machine)
    timeline: dict[str, Any] = field(default_factory=dict)

    @property
    def bound_s(self) -> float:
        return self.admitted_cost / self.server_limit + BOUND_SLACK_S

    @property
    def ratio(self) -> float:
        return self.wall_s / self.bound_s

    @property
    def met(self) -> bool:
        """Within the bound, exited 0, and every pair was asked for."""
        return self.exit_code == 0 and self.klines_pairs >= self.pairs and self.ratio <= BOUND_FACTOR

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"bound_s": self.bound_s, "ratio": self.ratio, "met": self.met}


@dataclass(frozen=True)
class Timed:
    """A finished subprocess: exit code, wall seconds (monotonic clock), start (epoch seconds, the request log's
    clock) and the 1-minute load average before and after it."""

    code: int
    wall: float
    started: float
    load: tuple[float, float]


def timed_run(args: Sequence[str], env: dict[str, str], out: Path, timeout: float) -> Timed:
    """Run ``args`` (stdout to ``out``, stderr to ``out``.log), cut off after ``timeout`` seconds."""
    load_before = os.getloadavg()[0]
    started_epoch, started = time.time(), time.perf_counter()
    with out.open("w") as stdout, out.with_suffix(".log").open("w") as stderr:
        proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr, cwd=REPO)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            log(f"{args[0]} cut off after {timeout:.0f} s")
    timed = Timed(code, time.perf_counter() - started, started_epoch, (load_before, os.getloadavg()[0]))
    log(f"{Path(args[0]).name} exited {code} after {timed.wall:.1f}s; load {timed.load[0]:.2f} -> {timed.load[1]:.2f}")
    return timed


def run_timeline(home: Path, started: float, records: Sequence[RequestRecord]) -> dict[str, Any]:
    """Where the run's time went, in seconds since the subprocess started, from its Dagster event log.

    ``run_start``: the CLI's start-up (imports, loading the definitions, creating the run); per step: ``launch``
    (the executor launches its worker), ``start`` (the step begins, after the worker's imports and resources) and
    ``end``; ``fetch``: the first and last request the simulator answered; ``materializations``: the first and last
    ASSET_MATERIALIZATION event and their number (one per partition of the range); ``run_end``: the run's last
    event, after which the process exits.
    """
    import dagster as dg

    def rel(ts: float) -> float:
        return round(ts - started, 2)

    step_marks = {
        dg.DagsterEventType.STEP_WORKER_STARTING: "launch",
        dg.DagsterEventType.STEP_START: "start",
        dg.DagsterEventType.STEP_SUCCESS: "end",
        dg.DagsterEventType.STEP_FAILURE: "end",
    }
    timeline: dict[str, Any] = {}
    if records:
        timeline["fetch"] = [rel(records[0].ts), rel(records[-1].ts)]
    # the home's event log (the product's) takes its folder from DAGSTER_HOME, as every process of the run did
    with mock.patch.dict(os.environ, {"DAGSTER_HOME": str(home)}), dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return timeline
        steps: dict[str, dict[str, Any]] = {}
        for entry in instance.all_logs(runs[0].run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type
            if kind == dg.DagsterEventType.RUN_START:
                timeline["run_start"] = rel(entry.timestamp)
            elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
                timeline["run_end"] = rel(entry.timestamp)
                timeline["run_status"] = kind.value
            elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                marks = timeline.setdefault("materializations", [rel(entry.timestamp), 0.0, 0])
                marks[1], marks[2] = rel(entry.timestamp), marks[2] + 1
            elif kind in step_marks and entry.step_key:
                steps.setdefault(entry.step_key, {})[step_marks[kind]] = rel(entry.timestamp)
                if kind == dg.DagsterEventType.STEP_FAILURE:
                    steps[entry.step_key]["failed"] = True
        timeline["steps"] = steps
    return timeline


def timeline_summary(run: BoundRun, asset: str = "crypto_daily_prices") -> str:
    """'start-up 9.1; crypto_daily_prices launched 9.2, ran 12.0..40.3; requests 12.5..39.9; checks ...'."""
    t = run.timeline
    parts = [f"start-up {t['run_start']:.1f}"] if "run_start" in t else []
    steps = t.get("steps", {})
    if asset in steps:
        step = steps[asset]
        launched, began, ended = (step.get(mark, 0.0) for mark in ("launch", "start", "end"))
        parts.append(f"{asset} launched {launched:.1f}, ran {began:.1f}..{ended:.1f}")
    if "fetch" in t:
        parts.append(f"requests {t['fetch'][0]:.1f}..{t['fetch'][1]:.1f}")
    if "materializations" in t:
        first, last, count = t["materializations"]
        parts.append(f"{count} materialization events {first:.1f}..{last:.1f}")
    checks = {key: step for key, step in steps.items() if key != asset}
    if checks:
        launched = min(step.get("launch", step.get("start", 0)) for step in checks.values())
        ended = max(step.get("end", 0) for step in checks.values())
        parts.append(f"{len(checks)} check step(s) launched {launched:.1f}, done {ended:.1f}")
    if "run_end" in t:
        parts.append(f"run end {t['run_end']:.1f}, exit {run.wall_s:.1f}")
    return "; ".join(parts)


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def keep_first_pairs(url: str, n: int) -> list[str]:
    """Deactivate every active crypto pair after the first ``n`` by symbol; return the ``n`` kept.

    lumia has no setting to restrict a run to some pairs, so the bench edits the warehouse directly:
    ``UPDATE assets SET active = 0 WHERE asset_class = 'crypto' AND symbol NOT IN (the first n)``, the order
    ``active_symbols`` lists them in. Only ``active`` changes; the price step and its checks then see n pairs.
    """
    with closing(sqlite3.connect(sqlite_path(url))) as conn, conn:
        active = [
            row[0]
            for row in conn.execute("SELECT symbol FROM assets WHERE asset_class = 'crypto' AND active ORDER BY symbol")
        ]
        if len(active) < n:
            raise SystemExit(f"the simulator lists {len(active)} active Binance pairs, fewer than {n}")
        conn.execute("CREATE TEMP TABLE kept (symbol TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO kept VALUES (?)", [(symbol,) for symbol in active[:n]])
        conn.execute(
            "UPDATE assets SET active = 0 WHERE asset_class = 'crypto' AND active AND symbol NOT IN (SELECT symbol "
            "FROM kept)"
        )
    return active[:n]


def copy_warehouse(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite warehouse in WAL mode (its -wal file included), through SQLite's backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def stored_rows(url: str) -> str:
    with closing(sqlite3.connect(sqlite_path(url))) as conn:
        rows, symbols = conn.execute(
            "SELECT count(*), count(DISTINCT symbol) FROM daily_prices WHERE asset_class = 'crypto'"
        ).fetchone()
    return f"{rows:,} rows, {symbols} pairs"


def dagster_cli(*args: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "lumia_assets.definitions",
        "--select",
        *args,
    ]


class BoundBench:
    """The bound runs: per N, the universe once (unlimited), then each case on a copy of that warehouse."""

    def __init__(self, sim: MarketSimulator, args: argparse.Namespace, workdir: Path, report: Report) -> None:
        self.sim, self.args, self.workdir, self.report = sim, args, workdir, report
        budget = args.bound_budget or f"{1.5 * args.bound_rate:g}:{3 * args.bound_rate:g}"
        self.budgets = f"{BINANCE_HOST}={budget},{UNLIMITED_BUDGETS}"
        self.end = last_closed_crypto_day(datetime.now(UTC))
        self.start = self.end - timedelta(days=args.bound_days - 1)
        self.runs: list[BoundRun] = []

    def env(self, home: Path, url: str) -> dict[str, str]:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # the instance `lumia` installs
        return {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "LUMIA_UPSTREAM_URL": self.sim.url,
            "LUMIA_WAREHOUSE_URL": url,
            "LUMIA_CRYPTO_EXCHANGES": "binance",
            "LUMIA_RATE_LIMITS": self.budgets,
        }

    def universe(self, n: int) -> tuple[Path, list[str]]:
        """crypto_universe (Binance only, no server limit) into a template warehouse, cut down to ``n`` pairs."""
        setup = self.workdir / f"setup-{n}"
        url = f"sqlite:///{setup / 'warehouse.db'}"
        self.sim.rate_limits.clear()
        env = self.env(setup / "dagster_home", url) | {"LUMIA_RATE_LIMITS": UNLIMITED_BUDGETS}
        timed = timed_run(dagster_cli("crypto_universe"), env, setup / "universe.out", self.args.bound_timeout)
        if timed.code != 0:
            raise SystemExit(f"crypto_universe failed ({timed.code}): {(setup / 'universe.log').read_text()[-3000:]}")
        pairs = keep_first_pairs(url, n)
        log(f"universe for N={n}: {timed.wall:.1f}s; kept {len(pairs)} pairs ({pairs[0]} .. {pairs[-1]})")
        return sqlite_path(url), pairs

    def figures(
        self,
        tool: str,
        case: BoundCase,
        limit: ServerLimit,
        pairs: list[str],
        timed: Timed,
        stored: str,
        home: Path | None,
    ) -> BoundRun:
        """The figures of the run just made, from the simulator's log (of that run only) and its Dagster events."""
        records = sorted(self.sim.requests(BINANCE_HOST), key=lambda r: r.ts)
        admitted = [r for r in records if r.status not in THROTTLED]
        run = BoundRun(
            tool=tool,
            case=case.name,
            pairs=len(pairs),
            start=str(self.start),
            end=str(self.end),
            rate=self.args.bound_rate,
            server_limit=limit.rate,
            unit="weight" if limit.weighted else "requests",
            exit_code=timed.code,
            wall_s=timed.wall,
            requests=len(records),
            admitted=len(admitted),
            status_429=sum(1 for r in records if r.status == 429),
            status_418=sum(1 for r in records if r.status == 418),
            admitted_cost=sum(cost_of(self.sim, r, limit.weighted) for r in admitted),
            klines_pairs=len(klines_per_pair(self.sim)),
            stored=stored,
            load=timed.load,
        )
        if home is not None:
            run.timeline = run_timeline(home, timed.started, records)
        elif records:
            run.timeline = {
                "fetch": [round(records[0].ts - timed.started, 2), round(records[-1].ts - timed.started, 2)]
            }
        log(f"{tool} case {case.name} N={len(pairs)}: {describe_bound(run)}")
        if run.timeline:
            log(f"  timeline (s from start): {timeline_summary(run)}")
        self.runs.append(run)
        self.report.setdefault("bound_runs", []).append(run.as_dict())
        self.report.save()
        return run

    def lumia(self, case: BoundCase, template: Path, pairs: list[str]) -> BoundRun:
        """The timed ``dagster asset materialize`` of the year, on a copy of the template warehouse."""
        workdir = self.workdir / f"{case.name}-{len(pairs)}"
        workdir.mkdir(parents=True)
        copy_warehouse(template, workdir / "warehouse.db")
        url = f"sqlite:///{workdir / 'warehouse.db'}"
        env = self.env(workdir / "dagster_home", url)
        limit = case.limit(self.args.bound_rate, self.args.retry_after)
        limit.apply(self.sim)
        self.sim.server.log.clear()
        args = dagster_cli("crypto_daily_prices", "--partition-range", f"{self.start}...{self.end}")
        log(f"case {case.name} N={len(pairs)}: {' '.join(args[-6:])} against {asdict(limit)}")
        timed = timed_run(args, env, workdir / "materialize.out", self.args.bound_timeout)
        if timed.code != 0:
            log(f"dagster exited with {timed.code}: {(workdir / 'materialize.log').read_text()[-3000:]}")
        return self.figures("lumia", case, limit, pairs, timed, stored_rows(url), workdir / "dagster_home")

    def freqtrade(self, case: BoundCase, pairs: list[str]) -> BoundRun:
        """``freqtrade download-data`` of the same pairs and days against the same limit, afresh."""
        workdir = self.workdir / f"freqtrade-{case.name}-{len(pairs)}"
        (workdir / "ft-user").mkdir(parents=True)
        config = freqtrade_config(self.sim.url, pairs, workdir / "freqtrade.json")
        args = freqtrade_args(self.args.freqtrade, config, pairs, self.start, self.end, workdir)
        limit = case.limit(self.args.bound_rate, self.args.retry_after)
        limit.apply(self.sim)
        self.sim.server.log.clear()
        log(f"freqtrade download-data of {len(pairs)} pairs, {self.start}..{self.end}")
        timed = timed_run(args, dict(os.environ), workdir / "freqtrade.out", self.args.bound_timeout)
        if timed.code != 0:
            log(f"freqtrade exited with {timed.code}: {(workdir / 'freqtrade.log').read_text()[-3000:]}")
        files = list((workdir / "ft-data").rglob("*-1d.feather"))
        candles = count_feather_rows(Path(self.args.freqtrade).parent / "python", files)
        return self.figures("freqtrade", case, limit, pairs, timed, f"{candles:,} candles in {len(files)} files", None)

    def run(self) -> list[str]:
        cases = [BOUND_CASES[name] for name in self.args.bound_cases.split(",")]
        peers: list[tuple[BoundRun, BoundRun]] = []
        for n in self.args.bound_pairs:
            template, pairs = self.universe(n)
            for case in cases:
                run = self.lumia(case, template, pairs)
                if self.args.freqtrade and n == self.args.bound_peer_pairs and case.name == "a":
                    peers.append((run, self.freqtrade(case, pairs)))
        lines = bound_table(self.runs)
        for lumia, ft in peers:
            ratio = lumia.wall_s / ft.wall_s if ft.wall_s else float("nan")
            self.report.setdefault("bound_peer", []).append({"pairs": lumia.pairs, "case": lumia.case, "ratio": ratio})
            lines += [
                "",
                f"case {lumia.case}, {lumia.pairs} pairs: lumia {lumia.wall_s:.1f} s / freqtrade "
                f"{ft.wall_s:.1f} s (exit {ft.exit_code}) = **{ratio:.3f}** (target <= {PEER_TARGET}: "
                f"{verdict(ft.exit_code == 0 and ratio <= PEER_TARGET)})",
            ]
        self.report.save()
        return lines


def describe_bound(run: BoundRun) -> str:
    return (
        f"exit {run.exit_code}; {run.requests} requests ({run.admitted} admitted, {run.status_429} x 429, "
        f"{run.status_418} x 418), {run.klines_pairs} pairs asked; admitted cost {run.admitted_cost} {run.unit} at "
        f"{run.server_limit:g}/s -> bound {run.bound_s:.1f}s; wall {run.wall_s:.1f}s = {run.ratio:.3f} of the "
        f"bound ({verdict(run.met)}); stored {run.stored}"
    )


def bound_table(runs: Sequence[BoundRun], asset: str = "crypto_daily_prices") -> list[str]:
    """The Markdown table of the bound runs; the timeline columns are seconds since the subprocess started."""
    lines = [
        "| tool | case | pairs | days | server limit | requests (admitted) | 429 | R /s | bound s | wall s | "
        f"wall / bound | <= {BOUND_FACTOR} | run start | price step | requests | materializations | checks done | "
        "load | stored |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def span(pair: Sequence[float] | None) -> str:
        return f"{pair[0]:.1f}..{pair[1]:.1f}" if pair else "-"

    for r in runs:
        days = (date.fromisoformat(r.end) - date.fromisoformat(r.start)).days + 1
        t, steps = r.timeline, r.timeline.get("steps", {})
        price = steps.get(asset, {})
        checks = [step.get("end", 0) for key, step in steps.items() if key != asset]
        run_start = f"{t['run_start']:.1f}" if "run_start" in t else "-"
        price_span = span([price["start"], price["end"]]) if "start" in price and "end" in price else "-"
        checks_done = f"{max(checks):.1f}" if checks else "-"
        lines.append(
            f"| {r.tool} | {r.case} | {r.pairs:,} | {days} | {r.server_limit:g} {r.unit}/s | {r.requests:,} "
            f"({r.admitted:,}) | {r.status_429:,} | {r.rate:g} | {r.bound_s:.1f} | {r.wall_s:.1f} | {r.ratio:.3f} "
            f"| {verdict(r.met)} | {run_start} | {price_span} | {span(t.get('fetch'))} | "
            f"{span(t.get('materializations'))} | {checks_done} "
            f"| {r.load[0]:.1f}/{r.load[1]:.1f} | {r.stored} |"
        )
    return lines


def klines_cost_ms(sim: MarketSimulator, start: date, calls: int = 20) -> float:
    """CPU milliseconds the simulator spends answering one klines call for the range from ``start`` (median).

    The bench's own thread asks ``SimServer.answer`` directly (no HTTP, no log, no limit in force): at C ms a call,
    the simulator serves at most 1000 / C klines calls per second on a whole core, whatever the server's limit.
    """
    from lumia_assets.sim.crypto import day_start_ms, native_id

    sim.rate_limits.clear()
    timings = []
    for pair in sim.crypto.pairs("binance")[:calls]:
        query = f"symbol={native_id('binance', pair)}&interval=1d&limit=1000&startTime={day_start_ms(start)}"
        began = time.thread_time()
        sim.server.answer("GET", BINANCE_HOST, KLINES_PATH, query, {})
        timings.append(time.thread_time() - began)
    return sorted(timings)[len(timings) // 2] * 1000


def bound_main(args: argparse.Namespace) -> None:
    """``--bound-cases``: a one-year daily backfill of N Binance pairs per case, timed against its bound."""
    binance = args.bound_sim_pairs or max(PROFILE_BINANCE_PAIRS, math.ceil(max(args.bound_pairs) / ACTIVE_SHARE) + 50)
    extra: dict[str, Any] = {"crypto_pairs": {"binance": binance}} if binance != PROFILE_BINANCE_PAIRS else {}
    start = last_closed_crypto_day(datetime.now(UTC)) - timedelta(days=args.bound_days - 1)
    if args.bound_history_days:  # an NYSE session: the simulator's equities need their history to start on one
        target = start - timedelta(days=args.bound_history_days)
        extra["history_start"] = equity_sessions(target - timedelta(days=10), target)[-1]
    sim = MarketSimulator(SimConfig(profile=args.profile, seed=SEED, **extra)).start()
    workdir = Path(tempfile.mkdtemp(prefix="lumia-bound-"))
    log(f"simulator {args.profile} {extra or ''} on {sim.url}; workdir {workdir}")
    cost = klines_cost_ms(sim, start)
    warning = "; it, not the server's limit, may bound the runs" if 1000 / cost < 3 * args.bound_rate else ""
    log(f"the simulator spends {cost:.1f} ms CPU per klines call of the range: at most {1000 / cost:.0f} calls/s on a "
        f"whole core{warning}")  # fmt: skip
    report = Report(
        args.json,
        command=" ".join(["python", *sys.argv]),
        now=datetime.now(UTC).isoformat(),
        cpus=os.cpu_count(),
        sim_binance_pairs=binance,
        sim_config={k: str(v) for k, v in extra.items()},
        sim_klines_cpu_ms=cost,
    )
    bench = BoundBench(sim, args, workdir, report)
    log(
        f"{args.bound_days} days {bench.start}..{bench.end}; R = {args.bound_rate:g}/s; "
        f"LUMIA_RATE_LIMITS={bench.budgets}"
    )
    try:
        lines = bench.run()
        print("\n".join(lines), flush=True)
    finally:
        sim.stop()
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=["default", "small"])
    parser.add_argument("--yahoo-limit", type=float, default=50.0, help="server limit on the chart host, requests/s")
    parser.add_argument("--yahoo-burst", type=float, default=10.0)
    parser.add_argument("--yahoo-budget", default="65:13", help="lumia's budget RATE[:BURST], above the server's")
    parser.add_argument("--binance-limit", type=float, default=20.0, help="server limit on Binance, weight/s")
    parser.add_argument("--binance-burst", type=float, default=40.0, help="weight; exchangeInfo alone weighs 20")
    parser.add_argument("--binance-budget", default="15:30", help="lumia's budget in requests/s (klines weigh 2)")
    parser.add_argument("--binance-ban-after", type=int, default=0, help="418 after N ignored Retry-After (0: off)")
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of the server's 429s, seconds")
    parser.add_argument("--peer-days", type=int, default=730)
    parser.add_argument("--freqtrade", default="/tmp/ft-venv/bin/freqtrade", help="freqtrade executable ('' to skip)")
    parser.add_argument("--freqtrade-timeout", type=int, default=1800, help="seconds before freqtrade is cut off")
    parser.add_argument("--skip-universe-stages", action="store_true", help="run the peer comparison only")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp dir (logs, warehouses)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    bound = parser.add_argument_group("the bound runs (issue 12, item 4): only these, instead of the stages above")
    bound.add_argument(
        "--bound-cases",
        nargs="?",
        const="a,b,c",
        default=None,
        help="run the cases (default a,b,c): a 429 + Retry-After, b 429 alone, c Binance weight",
    )
    bound.add_argument(
        "--bound-pairs",
        type=lambda raw: [int(n) for n in raw.split(",")],
        default=[300, 2000],
        help="N, the Binance pairs of each run (comma-separated; default 300,2000)",
    )
    bound.add_argument("--bound-days", type=int, default=365, help="days of the backfill, ending yesterday (UTC)")
    bound.add_argument("--bound-rate", type=float, default=10.0, help="R, the server's limit in requests/s")
    bound.add_argument("--bound-budget", default="", help="lumia's Binance budget RATE[:BURST] (default 1.5R:3R)")
    bound.add_argument("--bound-peer-pairs", type=int, default=300, help="N of the freqtrade run (case a)")
    bound.add_argument("--bound-timeout", type=float, default=1800, help="seconds before a run is cut off")
    bound.add_argument(
        "--bound-sim-pairs",
        type=int,
        default=BOUND_SIM_PAIRS,
        help=f"Binance pairs the simulator lists (default {BOUND_SIM_PAIRS:,}: about 2,080 active, the same universe "
        "whatever N; 0: just enough for the largest N)",
    )
    bound.add_argument(
        "--bound-history-days",
        type=int,
        default=30,
        help="the simulator's history starts this many days before the range (0: the profile's "
        "2018-01-02); its klines answer walks a pair's whole history, ~170 ms CPU a call from 2018",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bound_cases:
        bound_main(args)
        return
    now = datetime.now(UTC)
    session, day = last_closed_equity_session(now), last_closed_crypto_day(now)
    limits = {
        YAHOO_HOST: ServerLimit(YAHOO_HOST, args.yahoo_limit, args.yahoo_burst, args.retry_after),
        BINANCE_HOST: ServerLimit(
            BINANCE_HOST, args.binance_limit, args.binance_burst, args.retry_after, WEIGHT_HEADER,
            args.binance_ban_after or None,
        ),
    }  # fmt: skip
    budgets = f"{YAHOO_HOST}={args.yahoo_budget},{BINANCE_HOST}={args.binance_budget},{UNLIMITED_BUDGETS}"
    sim = MarketSimulator(SimConfig(profile=args.profile, seed=SEED)).start()
    for limit in limits.values():
        limit.apply(sim)
    workdir = Path(tempfile.mkdtemp(prefix="lumia-ratelimit-"))
    log(f"simulator {args.profile} on {sim.url}; workdir {workdir}; session {session}, UTC day {day}")
    log(f"server limits {[asdict(limit) for limit in limits.values()]}; LUMIA_RATE_LIMITS={budgets}")
    report = Report(args.json, command=" ".join(["python", *sys.argv]), now=now.isoformat(), cpus=os.cpu_count())
    report.update(limits=[asdict(limit) for limit in limits.values()], budgets=budgets, figures=[])
    lines: list[str] = []
    try:
        if not args.skip_universe_stages:
            runner = Runner(sim, "sqlite", f"sqlite:///{workdir / 'warehouse.db'}", workdir / "full", report,
                            LUMIA_RATE_LIMITS=budgets)  # fmt: skip
            runner.run("universes", ["stock_universe", "fund_universe", "crypto_universe"])
            figures = []
            for name, asset, partition, hosts in [
                ("daily-equity", "equity_daily_prices", session, [YAHOO_HOST]),
                ("daily-crypto", "crypto_daily_prices", day, [BINANCE_HOST]),
            ]:
                stage = runner.run(name, [asset], partition, partition)
                for host in hosts:
                    figures.append(host_figures(sim, stage, limits[host]))
                    log(describe(figures[-1]))
                    report["figures"].append(figures[-1].as_dict())
                    report.save()
            lines += figures_table(figures)
        if args.freqtrade:
            report["peer"] = peer(
                sim, workdir, report, args.freqtrade, args.peer_days, day, budgets, args.freqtrade_timeout
            )
            report.save()
            lines += ["", *peer_table(report["peer"])]
        print("\n".join(lines), flush=True)
    finally:
        sim.stop()
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
