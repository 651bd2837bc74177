"""Alert sensors: a failed ERROR check and a failed run reach a webhook on a loopback server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from lumia_assets.defs.monitoring.alerts import check_failure_alert, run_failure_alert

SAMPLE = [{"symbol": "AAA", "date": "2024-06-03", "reason": "low > high"}]
DAYS = dg.DailyPartitionsDefinition(start_date="2024-06-01")


@dg.asset(partitions_def=DAYS)
def toy_prices() -> None: ...


@dg.asset_check(asset=toy_prices, partitions_def=DAYS)
def toy_ohlc() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="1 of 50 bars break OHLC sanity",
        metadata={"sample": dg.MetadataValue.json(SAMPLE)},
    )


@dg.asset_check(asset=toy_prices, partitions_def=DAYS)
def toy_coverage() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="degraded")


@dg.asset
def toy_broken() -> None:
    raise RuntimeError("upstream down")


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """A loopback HTTP server recording every JSON body POSTed to it; LUMIA_ALERT_WEBHOOK_URL points at it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None: ...

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LUMIA_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hooks/secret")
    yield received
    server.shutdown()
    thread.join()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def test_a_failed_error_check_posts_asset_partition_check_and_sample(webhook, instance) -> None:
    context = dg.build_sensor_context(instance=instance)
    check_failure_alert(context)  # the first tick only sets the cursor: no alerts about history
    dg.materialize([toy_prices, toy_ohlc, toy_coverage], instance=instance, partition_key="2024-06-03")

    check_failure_alert(dg.build_sensor_context(instance=instance, cursor=context.cursor))

    assert len(webhook) == 1  # the WARN check does not page
    alert = webhook[0]["alert"]
    assert (alert["asset"], alert["partition"], alert["check"], alert["severity"]) == (
        "toy_prices", "2024-06-03", "toy_ohlc", "ERROR",
    )  # fmt: skip
    assert alert["sample"] == SAMPLE
    assert "symbol=AAA" in webhook[0]["text"]
    assert "reason=low > high" in webhook[0]["text"]


def test_the_cursor_never_alerts_twice_for_one_run(webhook, instance) -> None:
    dg.materialize([toy_prices, toy_ohlc], instance=instance, partition_key="2024-06-03")
    context = dg.build_sensor_context(instance=instance, cursor="0")

    check_failure_alert(context)
    check_failure_alert(dg.build_sensor_context(instance=instance, cursor=context.cursor))

    assert len(webhook) == 1


def test_a_failed_run_posts_its_job_assets_and_error(webhook, instance) -> None:
    result = dg.materialize([toy_broken], selection=[toy_broken], instance=instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()

    run_failure_alert(context)

    [payload] = webhook
    assert payload["alert"]["asset"] == "toy_broken"
    assert payload["alert"]["run_id"] == result.run_id
    assert "[ERROR] run of __ephemeral_asset_job__ failed" in payload["text"]
