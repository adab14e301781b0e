"""The run report's derived expectations for the reconciliation, and its JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from producers.badrecords import BadKind
from producers.report import RunReport, TopicCounts, report_key


def sample_report() -> RunReport:
    return RunReport(
        run_id="r1",
        started_at=datetime(2025, 3, 1, tzinfo=UTC),
        seed=1,
        journey_start=datetime(2025, 3, 1, tzinfo=UTC),
        vehicles=2,
        bootstrap_servers="127.0.0.1:9092",
        topics={
            "gps_data": TopicCounts(
                produced=110,
                acknowledged=108,
                failed=2,
                good_produced=100,
                good_acknowledged=99,
                injected={BadKind.LATE: 4, BadKind.DUPLICATE: 3, BadKind.WRONG_TYPE: 3},
                injected_acknowledged={BadKind.LATE: 4, BadKind.DUPLICATE: 3, BadKind.WRONG_TYPE: 2},
            ),
            "weather_data": TopicCounts(
                produced=50,
                acknowledged=50,
                good_produced=49,
                good_acknowledged=49,
                injected={BadKind.MALFORMED_JSON: 1},
                injected_acknowledged={BadKind.MALFORMED_JSON: 1},
            ),
        },
    )


def test_expectations_per_topic():
    gps = sample_report().topics["gps_data"]
    assert gps.expected_valid == 99
    assert gps.expected_quarantined == {"late": 4, "wrong_type": 2}
    assert gps.expected_duplicates == 3


def test_totals_add_up_topics():
    totals = sample_report().totals
    assert (totals.produced, totals.acknowledged, totals.failed) == (160, 158, 2)
    assert totals.expected_valid == 148
    assert totals.expected_quarantined == {"late": 4, "wrong_type": 2, "malformed_json": 1}


def test_json_round_trip_and_atomic_write(tmp_path):
    report = sample_report()
    path = tmp_path / "reports" / "r1.json"
    report.write(path)
    data = json.loads(path.read_text())
    assert data["topics"]["gps_data"]["expected_quarantined"] == {"late": 4, "wrong_type": 2}
    assert data["totals"]["acknowledged"] == 158
    assert not list(path.parent.glob("*.partial"))
    assert RunReport.model_validate_json(path.read_text()).topics == report.topics
    assert report_key("r1") == "reports/r1.json"
