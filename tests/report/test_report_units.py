"""Unit tests of the report: data shaping, SQL, inputs and rendering, on journeys from the real simulator."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pytest
import sqlglot
from typer.testing import CliRunner

from plugins.lake import JourneyScope, Window
from producers.badrecords import BadKind
from producers.route import default_route
from smartcity.contracts.records import CONTRACTS, INCIDENT_TYPES
from smartcity.report import queries
from smartcity.report.athena import query_label, result_rows
from smartcity.report.cli import app as report_app
from smartcity.report.errors import ReportError
from smartcity.report.figures import FIGURES
from smartcity.report.render import write_report
from smartcity.report.shaping import (
    batch_frame,
    incident_counts,
    quarantine_by_stream,
    reconciliation,
    route_distance_km,
    throughput,
)
from smartcity.report.sources import parse_run_report, read_metrics, report_by_stream
from tests.report.report_checks import non_local_references, parse_page, png_problems, table_number
from tests.report.synthetic import epoch, journey, metrics_lines, report_data


@pytest.fixture(scope="module")
def trip():
    """Three vehicles, the whole way to Baguio, with a topic prefix (as isolated runs use)."""
    return journey(vehicles=3, prefix="run7.")


# --- reconciliation --------------------------------------------------------------------------------------------------
def test_reconciliation_balances_when_the_lake_holds_what_was_sent(trip) -> None:
    report = report_by_stream(trip.run_report())
    quarantined = quarantine_by_stream(trip.quarantine_rows(), trip.prefix)
    rows = reconciliation(report, trip.counts, quarantined)

    assert [r.stream for r in rows] == [s for s in CONTRACTS if s in trip.records]
    for row in rows:
        injected = trip.injected.get(row.stream, {})
        assert row.ok, row.problems
        assert row.landed == row.expected_landed == len(trip.records[row.stream])
        assert row.quarantined_by_reason == {k.value: n for k, n in injected.items() if k is not BadKind.DUPLICATE}
        assert row.duplicates_dropped == injected.get(BadKind.DUPLICATE, 0)
        assert row.produced == len(trip.records[row.stream]) + sum(injected.values())
        assert row.unaccounted == 0


def test_reconciliation_names_the_stream_and_the_difference(trip) -> None:
    report = report_by_stream(trip.run_report())
    lake = {**trip.counts, "vehicle_data": trip.counts["vehicle_data"] - 1}
    quarantined = quarantine_by_stream(
        [*trip.quarantine_rows(), {"stream": "run7.gps_data", "reason": "late", "row_count": 2}], trip.prefix
    )
    rows = {r.stream: r for r in reconciliation(report, lake, quarantined)}

    assert not rows["vehicle_data"].ok and "1 missing" in rows["vehicle_data"].problems[0]
    assert rows["vehicle_data"].unaccounted == 1
    assert not rows["gps_data"].ok and "'late'" in rows["gps_data"].problems[0]
    assert rows["gps_data"].quarantined_by_reason["late"] == 2
    assert all(rows[s].ok for s in ("traffic_data", "weather_data", "emergency_data"))


def test_quarantine_counts_map_prefixed_topics_to_streams() -> None:
    rows = [
        {"stream": "x.gps_data", "reason": "wrong_type", "row_count": 2},
        {"stream": "x.gps_data", "reason": "wrong_type", "row_count": 3},
        {"stream": "x.vehicle_data", "reason": "late", "row_count": 1},
    ]
    assert quarantine_by_stream(rows, "x.") == {("gps_data", "wrong_type"): 5, ("vehicle_data", "late"): 1}


def test_run_report_topics_are_keyed_by_stream(trip) -> None:
    run = trip.run_report()
    assert set(run.topics) == {f"run7.{s}" for s in trip.records}
    assert set(report_by_stream(run)["topics"]) == set(trip.records)


# --- the streaming job's metrics ------------------------------------------------------------------------------------
def test_batches_are_timed_from_the_job_start_and_add_up(trip) -> None:
    lines = metrics_lines(trip, batch_rows=500)
    batches = batch_frame(lines)

    assert len(batches) == sum(1 for line in lines if line["event"] == "batch")
    start = next(line["ts"] for line in lines if line["event"] == "job_started")
    assert np.allclose(batches["t_s"], batches["ts"] - start)
    assert batches.groupby("stream")["input_rows"].sum().to_dict() == trip.counts
    busy = throughput(batches)
    assert np.allclose(busy["rows_per_s"], busy["rows"] * 1000 / busy["batch_duration_ms"])


def test_batch_rows_are_the_jobs_own_count_not_sparks_source_scans(trip) -> None:
    """Spark's numInputRows counts each scan of the batch's source; the job counts what it classified."""
    batch, idle = metrics_lines(trip)[2], metrics_lines(trip)[2]
    batch = {**batch, "input_rows": 2 * batch["input_rows"]}  # the batch was scanned twice
    idle = {key: value for key, value in idle.items() if key not in ("valid", "quarantined", "duplicates")}
    table = batch_frame([batch, idle])
    assert table["rows"].tolist() == [batch["valid"] + batch["quarantined"] + batch["duplicates"], idle["input_rows"]]


def test_a_bad_batch_line_is_a_clear_error(trip) -> None:
    lines = metrics_lines(trip)
    lines[3] = {**lines[3], "input_rows": "lots"}
    with pytest.raises(ReportError, match=r"metrics.jsonl: record 4 \(a batch\) has a bad 'input_rows'"):
        batch_frame(lines, "metrics.jsonl")


def test_metrics_file_tolerates_a_line_being_written_but_not_garbage(tmp_path: Path, trip) -> None:
    lines = metrics_lines(trip)[:4]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"ts": 1, "event": "ba')
    assert read_metrics(path) == lines
    path.write_text(json.dumps(lines[0]) + "\nnot json\n")
    with pytest.raises(ReportError, match=rf"{path.name}:2 is not a JSON line"):
        read_metrics(path)


# --- the journey ---------------------------------------------------------------------------------------------------
def test_positions_are_placed_along_the_route(trip) -> None:
    route = default_route()
    vertices = route_distance_km(route.lat, route.lon)
    assert np.allclose(vertices, np.asarray(route.cum) / 1000, atol=0.06)

    first = next(iter(sorted({r["vehicle_id"] for r in trip.records["vehicle_data"]})))
    track = [r for r in trip.records["vehicle_data"] if r["vehicle_id"] == first]
    km = route_distance_km([r["latitude"] for r in track], [r["longitude"] for r in track])
    assert np.all(np.diff(km) >= -0.2)  # a vehicle only moves forward
    assert km[-1] == pytest.approx(route.length_m / 1000, abs=0.2)  # ... and arrives in Baguio


def test_incident_counts_follow_the_contract_order(trip) -> None:
    data = report_data(trip)
    counts = incident_counts(data.incidents)
    distinct = {r["incident_id"]: r["incident_type"] for r in trip.records["emergency_data"]}
    assert dict(counts) == dict(Counter(distinct.values()))
    assert [kind for kind, _ in counts] == [k for k in INCIDENT_TYPES if k in dict(counts)]


def test_sampling_bounds_the_rows() -> None:
    for rows, budget in ((10, 8000), (8000, 8000), (8001, 8000), (1_000_000, 8000)):
        step = queries.step_for(rows, budget)
        assert step >= 1 and math.ceil(rows / step) <= budget
    assert queries.step_for(10, 8000) == 1


def test_journey_queries_sample_per_vehicle_and_stay_in_scope(trip) -> None:
    """The report's Athena SQL, transpiled as the stand-in does, over the journey's rows in DuckDB."""
    con = duckdb.connect()
    rows = [(r["vehicle_id"], r["event_id"], r["event_time"], r["latitude"], r["longitude"], r["speed_kmh"])
            for r in trip.records["vehicle_data"]]  # fmt: skip
    con.execute(
        "CREATE TABLE vehicle_data (vehicle_id VARCHAR, event_id VARCHAR, event_time TIMESTAMPTZ, "
        "latitude DOUBLE, longitude DOUBLE, speed_kmh DOUBLE)"
    )
    con.executemany("INSERT INTO vehicle_data VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute("ALTER TABLE vehicle_data ADD COLUMN date VARCHAR")
    con.execute("UPDATE vehicle_data SET date = strftime(event_time AT TIME ZONE 'UTC', '%Y-%m-%d')")

    def run(sql: str) -> list[tuple]:
        return con.execute(sqlglot.transpile(sql, read="athena", write="duckdb")[0]).fetchall()

    scope = JourneyScope.from_report(report_by_stream(trip.run_report()))
    sampled = run(queries.tracks_sql(scope, step=7))
    per_vehicle = Counter(r[0] for r in rows)
    assert Counter(r[0] for r in sampled) == {v: math.ceil(n / 7) for v, n in per_vehicle.items()}
    for vehicle in per_vehicle:
        first = min(epoch(r[2]) for r in rows if r[0] == vehicle)
        assert min(r[1] for r in sampled if r[0] == vehicle) == pytest.approx(first)

    elsewhere = JourneyScope(events={"vehicle_data": Window.of("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z")},
                             produced=scope.produced)  # fmt: skip
    assert run(queries.tracks_sql(elsewhere)) == []


def test_queries_are_named_by_their_leading_comment_or_their_start() -> None:
    assert query_label("-- check gps_data\nSELECT 1") == "check gps_data"
    assert query_label("\n  SELECT   stream,\n count(*) FROM t") == "SELECT stream, count(*) FROM t"
    long = query_label("SELECT " + ", ".join(f"c{i}" for i in range(40)), width=30)
    assert len(long) == 30 and long.endswith("\N{HORIZONTAL ELLIPSIS}")


def test_athena_results_are_typed_by_column() -> None:
    """GetQueryResults pages: the header row first, every value a string, NULL as an empty cell."""
    columns = [{"Name": "stream", "Type": "varchar"}, {"Name": "n", "Type": "bigint"}, {"Name": "x", "Type": "double"}]
    page = {
        "ResultSet": {
            "ResultSetMetadata": {"ColumnInfo": columns},
            "Rows": [
                {"Data": [{"VarCharValue": "stream"}, {"VarCharValue": "n"}, {"VarCharValue": "x"}]},
                {"Data": [{"VarCharValue": "gps_data"}, {"VarCharValue": "12"}, {"VarCharValue": "1.5"}]},
            ],
        }
    }
    more = {
        "ResultSet": {"ResultSetMetadata": {"ColumnInfo": columns}, "Rows": [{"Data": [{}, {"VarCharValue": "3"}, {}]}]}
    }
    assert result_rows([page, more]) == [{"stream": "gps_data", "n": 12, "x": 1.5}, {"stream": None, "n": 3, "x": None}]


# --- rendering -----------------------------------------------------------------------------------------------------
def test_page_is_self_contained_and_shows_the_counts_it_was_given(tmp_path: Path, trip) -> None:
    data = report_data(trip)
    page = write_report(data, tmp_path)
    parsed = parse_page(page)

    assert page.name == "index.html"
    assert non_local_references(parsed, tmp_path) == []
    assert sorted(parsed.images) == sorted(name for name, _draw, _section in FIGURES)
    for image in parsed.images:
        assert png_problems(tmp_path / image) == []
    for stream, count in trip.counts.items():
        assert table_number(parsed, stream, "landed") == count
        assert table_number(parsed, stream, "produced") == trip.run_report().topics[f"run7.{stream}"].produced
        quarantined = sum(n for k, n in trip.injected.get(stream, {}).items() if k is not BadKind.DUPLICATE)
        assert table_number(parsed, stream, "quarantined") == quarantined
    assert "mismatch" not in page.read_text()


def test_figures_without_data_are_left_out_and_the_page_says_why(tmp_path: Path) -> None:
    trip = journey(vehicles=1, events=300, injected={})
    (tmp_path / "streaming.png").write_bytes(b"stale")  # from an earlier render of the same run
    data = report_data(trip, metrics=False, incidents=False)
    data.notes.append("No streaming metrics at /nowhere/metrics.jsonl")
    page = write_report(data, tmp_path)
    parsed = parse_page(page)

    assert "streaming.png" not in parsed.images and not (tmp_path / "streaming.png").exists()
    assert "incidents.png" not in parsed.images
    assert {"route.png", "speed.png", "reconciliation.png"} <= set(parsed.images)
    assert non_local_references(parsed, tmp_path) == []
    assert "No streaming metrics at /nowhere/metrics.jsonl" in page.read_text()


def test_a_run_report_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text(json.dumps({"run_id": "x", "topics": {}}))
    with pytest.raises(ReportError, match=r"run.json is not a producer run report: started_at: Field required"):
        parse_run_report(bad.read_bytes(), str(bad))

    result = CliRunner().invoke(report_app, ["--report-file", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "error:" in result.output and "is not a producer run report" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(report_app, ["--report-file", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
