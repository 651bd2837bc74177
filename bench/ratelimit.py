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
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

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

from lumia_assets.calendars import last_closed_crypto_day, last_closed_equity_session
from lumia_assets.sim import MarketSimulator, SimConfig
from lumia_assets.sim.protocol import SimRequest
from lumia_assets.sim.requestlog import RequestRecord

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

    def apply(self, sim: MarketSimulator) -> None:
        sim.rate_limits.set(
            self.host,
            self.rate,
            burst=self.burst,
            retry_after=self.retry_after,
            weight_header=self.weight_header,
            ban_after=self.ban_after,
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


def cost_of(sim: MarketSimulator, record: RequestRecord) -> int:
    """The record's cost against the host's limit: its Binance request weight, else 1."""
    weight = getattr(sim.server.apps.get(record.host), "weight", None)
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
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
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
