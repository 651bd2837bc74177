"""The bulk write path: unchanged rows are left alone (``fetched_at`` included), changed and new ones are written,
and the driver encodings (PostgreSQL binary COPY, SQLite executemany) store exactly what SQLAlchemy would."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from lumia_assets.frames import CORPORATE_ACTION_COLUMNS
from lumia_assets.warehouse import store
from lumia_assets.warehouse.adjustments import stale_factor_keys
from lumia_assets.warehouse.bulk import copy_binary, driver_rows, staging_ddl
from lumia_assets.warehouse.contracts import checked, conform
from lumia_assets.warehouse.engine import connect_warehouse
from lumia_assets.warehouse.schema import corporate_actions, daily_prices, symbol_status
from lumia_assets.warehouse.store import (
    PriceBatch,
    upsert_corporate_actions,
    upsert_daily_prices,
    write_price_batch,
)
from lumia_assets_tests.warehouse.frames import DAYS, FETCHED_AT, actions, bars, identities, statuses

LATER = FETCHED_AT + timedelta(days=1)


def _prices(engine: sa.Engine) -> pd.DataFrame:
    """The stored bars, dates as dates and timestamps in UTC whichever the backend."""
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("SELECT * FROM daily_prices ORDER BY symbol, date"), conn)
    return frame.assign(
        date=[pd.Timestamp(d).date() for d in frame["date"]], fetched_at=[_as_utc(v) for v in frame["fetched_at"]]
    )


def _as_utc(value: object) -> datetime:
    """SQLite hands timestamps back naive (stored in UTC); PostgreSQL tz-aware."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def _fetched(engine: sa.Engine) -> dict[tuple[str, date], datetime]:
    return _prices(engine).set_index(["symbol", "date"])["fetched_at"].to_dict()


def test_rewriting_unchanged_bars_keeps_them_as_stored_fetched_at_included(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    assert upsert_daily_prices(engine, bars("AAPL", DAYS)) == 3
    before = _prices(engine)

    assert upsert_daily_prices(engine, bars("AAPL", DAYS).assign(fetched_at=LATER)) == 3  # every bar, as before

    pd.testing.assert_frame_equal(before, _prices(engine))
    assert set(_fetched(engine).values()) == {FETCHED_AT}


def test_a_changed_value_replaces_the_bar_and_its_fetched_at_and_leaves_its_neighbours(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    upsert_daily_prices(engine, pd.concat([bars("AAPL", DAYS), bars("MSFT", DAYS)]))
    again = pd.concat([bars("AAPL", DAYS), bars("MSFT", DAYS)], ignore_index=True).assign(fetched_at=LATER)
    again.loc[0, "close"] = 10.5  # AAPL day 0: a price
    again.loc[1, "volume"] = float("nan")  # AAPL day 1: a value gone (NULL is a change)
    again.loc[3, "served_adj_close"] = 9.9  # MSFT day 0: the witness
    again.loc[4, "source"] = "ccxt"  # MSFT day 1: the source
    upsert_daily_prices(engine, again)

    fetched = _fetched(engine)
    changed = {("AAPL", DAYS[0]), ("AAPL", DAYS[1]), ("MSFT", DAYS[0]), ("MSFT", DAYS[1])}
    assert {key for key, at in fetched.items() if at == LATER} == changed
    prices = _prices(engine).set_index(["symbol", "date"])
    assert prices.loc[("AAPL", DAYS[0]), "close"] == 10.5
    assert pd.isna(prices.loc[("AAPL", DAYS[1]), "volume"])
    assert prices.loc[("MSFT", DAYS[0]), "served_adj_close"] == 9.9
    assert prices.loc[("MSFT", DAYS[1]), "source"] == "ccxt"


def test_null_equals_null_but_a_value_arriving_for_a_null_is_a_change(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    upsert_daily_prices(engine, bars("VFIAX", DAYS[:2], asset_class="mutual_fund").assign(volume=float("nan")))
    again = bars("VFIAX", DAYS[:2], asset_class="mutual_fund").assign(volume=[float("nan"), 5.0], fetched_at=LATER)
    upsert_daily_prices(engine, again)

    assert list(_fetched(engine).values()) == [FETCHED_AT, LATER]
    assert _prices(engine)["volume"].tolist()[1] == 5.0


def test_a_mixed_batch_inserts_the_new_bars_updates_the_changed_and_keeps_the_rest(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    upsert_daily_prices(engine, bars("AAPL", DAYS[:2]))
    again = pd.concat([bars("AAPL", DAYS[:2]), bars("NVDA", DAYS)], ignore_index=True).assign(fetched_at=LATER)
    again.loc[1, "close"] = 12.0
    assert upsert_daily_prices(engine, again) == 5

    prices = _prices(engine)
    assert list(zip(prices["symbol"], prices["close"], prices["fetched_at"], strict=True)) == [
        ("AAPL", 10.0, FETCHED_AT),
        ("AAPL", 12.0, LATER),
        ("NVDA", 10.0, LATER),
        ("NVDA", 10.0, LATER),
        ("NVDA", 10.0, LATER),
    ]


def test_write_price_batch_counts_every_bar_of_a_rewrite(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    batch = PriceBatch(bars("AAPL", DAYS), actions("AAPL", (DAYS[1], "dividend", 0.2)), statuses("ok", "AAPL"),
                       identities())  # fmt: skip
    first = write_price_batch(engine, batch)
    again = write_price_batch(engine, batch)
    assert (again.bars, again.actions, again.factor_segments) == (first.bars, first.actions, first.factor_segments)
    assert (again.bars, again.actions) == (3, 1)


def test_unchanged_actions_keep_their_fetched_at_and_leave_the_factors_current(warehouse_url: str) -> None:
    engine = connect_warehouse(warehouse_url)
    write_price_batch(engine, PriceBatch(bars("AAPL", DAYS), actions("AAPL", (DAYS[1], "dividend", 0.2)),
                                         statuses("ok", "AAPL"), identities()))  # fmt: skip
    resent = actions("AAPL", (DAYS[1], "dividend", 0.2)).assign(fetched_at=datetime.now(UTC) + timedelta(hours=1))
    upsert_corporate_actions(engine, resent)

    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT fetched_at FROM corporate_actions")).scalar_one()
    assert _as_utc(stored) == FETCHED_AT
    assert stale_factor_keys(engine) == set()
    upsert_corporate_actions(engine, resent.assign(value=0.25))
    assert stale_factor_keys(engine) == {("AAPL", "stock")}


def test_a_postgresql_rewrite_of_unchanged_bars_writes_no_row_version(postgres_database_url: str) -> None:
    engine = connect_warehouse(postgres_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE daily_prices"))
    upsert_daily_prices(engine, bars("AAPL", DAYS))
    query = sa.text("SELECT xmin::text || ':' || ctid::text FROM daily_prices ORDER BY date")
    with engine.connect() as conn:
        versions = conn.execute(query).scalars().all()

    upsert_daily_prices(engine, bars("AAPL", DAYS).assign(fetched_at=LATER))
    with engine.connect() as conn:
        assert conn.execute(query).scalars().all() == versions


def test_a_key_stored_by_a_concurrent_writer_falls_back_to_the_upsert(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The straight COPY runs only when no key can be stored; had another writer stored one in between, the COPY
    fails on the key, its savepoint is rolled back, and the batch goes through the upsert in the same transaction."""
    engine = connect_warehouse(postgres_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE daily_prices"))
    upsert_daily_prices(engine, bars("AAPL", DAYS[1:2], close=12.0))
    copies, real_copy = [], store._copy

    def recorded_copy(conn: sa.Connection, table: sa.Table, target: str, frame: pd.DataFrame) -> None:
        copies.append(target)
        real_copy(conn, table, target, frame)

    monkeypatch.setattr(store, "_may_hold_a_key_of", lambda *args: False)  # the check ran before the other writer
    monkeypatch.setattr(store, "_copy", recorded_copy)

    with engine.begin() as conn:
        upsert_daily_prices(conn, bars("AAPL", DAYS).assign(fetched_at=LATER))
        conn.execute(sa.text("SELECT 1"))  # the transaction is still usable

    assert copies == ["daily_prices", "_staging_daily_prices"]
    prices = _prices(engine)
    assert prices["close"].tolist() == [10.0, 10.0, 10.0]
    assert prices["fetched_at"].tolist() == [LATER] * 3


@pytest.mark.parametrize("stored_first", [False, True], ids=["straight-copy", "staging"])
def test_a_null_close_fails_the_whole_write_on_either_postgresql_path(
    postgres_database_url: str, stored_first: bool
) -> None:
    engine = connect_warehouse(postgres_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE daily_prices"))
    if stored_first:  # a stored key sends the batch through the staging table
        upsert_daily_prices(engine, bars("AAPL", DAYS[:1]))
    frame = bars("AAPL", DAYS)
    frame.loc[1, "close"] = float("nan")
    with pytest.raises(sa.exc.IntegrityError, match="close"):
        upsert_daily_prices(engine, frame)
    assert len(_prices(engine)) == (1 if stored_first else 0)


ROUND_TRIP = sa.Table(
    "round_trip",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(32)),
    sa.Column("note", sa.Text),
    sa.Column("value", sa.Float),
    sa.Column("day", sa.Date),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("flag", sa.Boolean),
    sa.Column("big", sa.BigInteger),
)
AWKWARD = pd.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "name": ['BRK.B "A", b', "", None, "ÆØÅ €"],
        "note": ["line\nbreak\\N", "\\.", "tab\there", None],
        "value": [1e-300, -0.0, float("inf"), float("nan")],
        "day": [date(1969, 12, 31), date(2000, 1, 1), None, date(2024, 2, 29)],
        "at": [datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC), None,
               datetime(2026, 12, 2, 13, 15, 19, 766452, tzinfo=UTC)],
        "flag": [True, False, None, True],
        "big": [2**40, -1, None, 0],
    }
)  # fmt: skip


def test_binary_copy_stores_exactly_what_an_insert_stores(postgres_database_url: str) -> None:
    engine = sa.create_engine(postgres_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(staging_ddl(ROUND_TRIP, list(AWKWARD.columns), "round_trip_copied", conn.dialect))
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY round_trip_copied ({', '.join(AWKWARD.columns)}) FROM STDIN WITH (FORMAT binary)",
                io.BytesIO(copy_binary(AWKWARD, ROUND_TRIP)),
            )
        conn.exec_driver_sql(staging_ddl(ROUND_TRIP, list(AWKWARD.columns), "round_trip_inserted", conn.dialect))
        inserted = sa.table("round_trip_inserted", *(sa.column(c.name, c.type) for c in ROUND_TRIP.columns))
        rows = AWKWARD.astype(object).where(AWKWARD.notna(), None).to_dict("records")
        conn.execute(inserted.insert(), rows)
        copied = conn.exec_driver_sql("SELECT * FROM round_trip_copied ORDER BY id").all()
        expected = conn.exec_driver_sql("SELECT * FROM round_trip_inserted ORDER BY id").all()
    engine.dispose()
    assert copied == expected
    assert copied[0].name == 'BRK.B "A", b' and copied[1].name == "" and copied[2].name is None
    assert copied[1].note == "\\." and copied[3].value is None and copied[2].value == float("inf")


def test_sqlite_rows_are_bound_as_sqlalchemy_binds_them(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'round_trip.db'}")
    ROUND_TRIP.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO round_trip VALUES ({', '.join('?' * len(AWKWARD.columns))})",
            driver_rows(AWKWARD, ROUND_TRIP, conn.dialect),
        )
        fast = conn.exec_driver_sql("SELECT * FROM round_trip ORDER BY id").all()
        conn.exec_driver_sql("DELETE FROM round_trip")
        conn.execute(ROUND_TRIP.insert(), AWKWARD.astype(object).where(AWKWARD.notna(), None).to_dict("records"))
        expected = conn.exec_driver_sql("SELECT * FROM round_trip ORDER BY id").all()
    engine.dispose()
    assert fast == expected
    assert fast[3].at == "2026-12-02 13:15:19.766452" and fast[0].day == "1969-12-31"


def test_checked_frames_and_driver_ready_frames_are_written_alike(warehouse_url: str) -> None:
    """``upsert`` takes either form: the price writer passes checked frames, the other writers conformed ones."""
    engine = connect_warehouse(warehouse_url)
    frame = actions("AAPL", (DAYS[0], "dividend", 0.24), (DAYS[1], "split", 4.0)).assign(in_dividend=[True, False])
    with engine.begin() as conn:
        store.upsert(conn, corporate_actions, checked(frame, corporate_actions, CORPORATE_ACTION_COLUMNS))
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT * FROM corporate_actions ORDER BY date")).all()
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM corporate_actions"))
        store.upsert(conn, corporate_actions, conform(frame, corporate_actions, CORPORATE_ACTION_COLUMNS))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM corporate_actions ORDER BY date")).all() == first
    assert [bool(row.in_dividend) for row in first] == [True, False]


def _probe(engine: sa.Engine, table: sa.Table, frame: pd.DataFrame, explain: bool = False) -> object:
    query, parameters = store.key_probe(engine.dialect, table, frame)
    with engine.connect() as conn:
        if explain:
            return "\n".join(conn.execute(sa.text(f"EXPLAIN {query}"), parameters).scalars())
        return conn.execute(sa.text(query), parameters).scalar()


def test_the_key_probe_finds_a_stored_key_of_a_frame_and_only_then(postgres_database_url: str) -> None:
    engine = connect_warehouse(postgres_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE daily_prices, corporate_actions, symbol_status"))
    upsert_daily_prices(engine, bars("AAPL", DAYS[1:2]))
    upsert_corporate_actions(engine, actions("AAPL", (DAYS[1], "dividend", 0.2)))
    store.record_symbol_status(engine, statuses("ok", "AAPL"))

    assert _probe(engine, daily_prices, checked(bars("AAPL", DAYS), daily_prices)) is True
    assert _probe(engine, daily_prices, checked(bars("AAPL", DAYS[2:]), daily_prices)) is False  # later dates
    assert _probe(engine, daily_prices, checked(bars("AAPL", DAYS, asset_class="etf"), daily_prices)) is False
    assert _probe(engine, daily_prices, checked(bars("MSFT", DAYS), daily_prices)) is False
    two = pd.concat([bars("MSFT", DAYS[:1]), bars("AAPL", DAYS[2:])])  # AAPL's stored day lies between: a maybe
    assert _probe(engine, daily_prices, checked(two, daily_prices)) is True
    split = actions("AAPL", (DAYS[1], "split", 2.0))  # the action after the date is not compared: a maybe
    assert _probe(engine, corporate_actions, checked(split, corporate_actions)) is True
    later_split = checked(actions("AAPL", (DAYS[2], "split", 2.0)), corporate_actions)
    assert _probe(engine, corporate_actions, later_split) is False
    status = statuses("ok", "AAPL", "MSFT")[["symbol", "asset_class"]]
    assert _probe(engine, symbol_status, status) is True
    assert _probe(engine, symbol_status, status.iloc[1:]) is False


def test_the_key_probe_reads_the_primary_key_even_before_the_table_has_statistics(postgres_database_url: str) -> None:
    engine = connect_warehouse(postgres_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE daily_prices"))  # forgets the statistics
    many = pd.concat([bars(f"S{i:03}", DAYS) for i in range(300)])
    upsert_daily_prices(engine, many)
    later = checked(pd.concat([bars(f"S{i:03}", [date(2025, 1, 2)]) for i in range(200)]), daily_prices)

    plan = _probe(engine, daily_prices, later, explain=True)
    assert "pk_daily_prices" in plan and "Seq Scan on daily_prices" not in plan, plan
