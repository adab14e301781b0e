"""Injected bad records are broken exactly the way their label says."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from producers.badrecords import EXPECTED_REASON, BadKind, BadRecordInjector
from producers.simulator import SimConfig, simulate
from smartcity.contracts.model import RejectReason, parse_timestamp
from smartcity.contracts.records import CONTRACTS

START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def samples():
    """A few good records of every stream, as the producer sees them."""
    config = SimConfig(vehicles=2, seed=3, start_time=START, emergency_rate_per_hour=4)
    per_stream = Counter()
    picked = []
    for time_ms, stream, record in simulate(config):
        if per_stream[stream] < 20:
            per_stream[stream] += 1
            picked.append((time_ms, stream, record, orjson.dumps(record)))
    assert set(per_stream) == set(CONTRACTS)
    return picked


@pytest.mark.parametrize(
    "kind",
    [
        BadKind.WRONG_TYPE,
        BadKind.MISSING_FIELD,
        BadKind.OUT_OF_RANGE,
        BadKind.UNKNOWN_SCHEMA_VERSION,
    ],
)
def test_contract_violations_are_rejected_for_the_labelled_reason(samples, kind):
    injector = BadRecordInjector(rate=1.0, kinds=(kind,), seed=1)
    for time_ms, stream, record, payload in samples:
        got = injector.maybe(CONTRACTS[stream], record, payload, time_ms)
        assert got is not None and got[0] is kind
        bad = orjson.loads(got[1])
        reasons = {rejection.reason for rejection in CONTRACTS[stream].validate(bad)}
        assert reasons == {EXPECTED_REASON[kind]}, (stream, bad)
        assert bad["event_id"] != record["event_id"]


def test_malformed_json_does_not_parse(samples):
    injector = BadRecordInjector(rate=1.0, kinds=(BadKind.MALFORMED_JSON,), seed=1)
    for time_ms, stream, record, payload in samples:
        _kind, bad = injector.maybe(CONTRACTS[stream], record, payload, time_ms)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(bad)
    assert EXPECTED_REASON[BadKind.MALFORMED_JSON] is RejectReason.MALFORMED_JSON


def test_late_records_are_valid_but_an_hour_old_with_a_fresh_id(samples):
    injector = BadRecordInjector(rate=1.0, kinds=(BadKind.LATE,), seed=1, late_by_s=3600)
    for time_ms, stream, record, payload in samples:
        _kind, bad_payload = injector.maybe(CONTRACTS[stream], record, payload, time_ms)
        bad = orjson.loads(bad_payload)
        assert CONTRACTS[stream].validate(bad) == []
        assert parse_timestamp(record["event_time"]) - parse_timestamp(bad["event_time"]) == timedelta(hours=1)
        assert bad["event_id"] != record["event_id"]


def test_duplicates_are_the_same_bytes(samples):
    injector = BadRecordInjector(rate=1.0, kinds=(BadKind.DUPLICATE,), seed=1)
    for time_ms, stream, record, payload in samples:
        assert injector.maybe(CONTRACTS[stream], record, payload, time_ms) == (BadKind.DUPLICATE, payload)
    assert EXPECTED_REASON[BadKind.DUPLICATE] is None


def test_rate_controls_how_often_and_the_mix_covers_every_kind(samples):
    assert all(BadRecordInjector(rate=0.0).maybe(CONTRACTS[s], r, p, t) is None for t, s, r, p in samples)
    injector = BadRecordInjector(rate=0.25, seed=5)
    outcomes = [
        injector.maybe(CONTRACTS[stream], record, payload, time_ms)
        for time_ms, stream, record, payload in itertools.islice(itertools.cycle(samples), 8_000)
    ]
    injected = [outcome for outcome in outcomes if outcome is not None]
    assert 0.22 < len(injected) / len(outcomes) < 0.28
    assert {kind for kind, _payload in injected} == set(BadKind)


def test_injection_is_deterministic_with_the_seed(samples):
    def run(seed):
        injector = BadRecordInjector(rate=0.5, seed=seed)
        return [injector.maybe(CONTRACTS[s], r, p, t) for t, s, r, p in samples]

    assert run(9) == run(9)
    assert run(9) != run(10)


def test_invalid_rates_are_refused():
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        BadRecordInjector(rate=1.5)
    with pytest.raises(ValueError, match="must not be empty"):
        BadRecordInjector(rate=0.5, kinds=())
