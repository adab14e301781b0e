"""Client input never makes the stand-in answer 5xx or crash: random targets, bodies, auth headers, and
requests shaped after botocore's own model of every implemented operation (valid and invalid values).

The app runs in-process (Starlette's TestClient, lifespan included) with its own state directory; S3 is a
closed port, so the crawls and queries that random requests start fail in the background, never in the
request.
"""

from __future__ import annotations

import json
import os
import string
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; httpx (installed) still works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from smartcity.standin import protocol
from smartcity.standin.app import StandinConfig, create_app

KEY, SECRET, REGION = "fuzzkey", "fuzzsecret", "us-east-1"
FUZZ = settings(
    max_examples=int(os.environ.get("STANDIN_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    config = StandinConfig(
        state_dir=Path(tmp_path_factory.mktemp("fuzz")),
        access_key=KEY,
        secret_key=SECRET,
        s3_endpoint="http://127.0.0.1:9",  # nothing listens there
        region=REGION,
        readable_buckets=frozenset({"lake-bucket"}),
        athena_output="s3://results-bucket/out/",
    )
    with TestClient(create_app(config), base_url="http://testserver") as test_client:
        yield test_client


def signed(target: str, body: bytes, service: str) -> tuple[dict[str, str], bytes]:
    request = AWSRequest(
        method="POST",
        url="http://testserver/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": protocol.JSON_CONTENT_TYPE},
    )
    SigV4Auth(Credentials(KEY, SECRET), service, REGION).add_auth(request)
    return dict(request.headers.items()), body


def post(client: TestClient, target: str, body: bytes, service: str):
    headers, data = signed(target, body, service)
    return client.post("/", content=data, headers=headers)


def assert_client_error_or_ok(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["__type"], response.text


# ------------------------------------------------------------------------------ strategies
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)
OPERATIONS = [
    (prefix, service, name)
    for prefix, service in protocol.TARGET_PREFIXES.items()
    for name in sorted(
        {
            "glue": [
                "CreateDatabase", "GetDatabase", "GetDatabases", "UpdateDatabase", "DeleteDatabase",
                "CreateTable", "GetTable", "GetTables", "UpdateTable", "DeleteTable", "BatchDeleteTable",
                "CreatePartition", "BatchCreatePartition", "GetPartition", "GetPartitions", "BatchGetPartition",
                "UpdatePartition", "BatchUpdatePartition", "DeletePartition", "BatchDeletePartition",
                "CreateCrawler", "GetCrawler", "GetCrawlers", "BatchGetCrawlers", "ListCrawlers", "UpdateCrawler",
                "DeleteCrawler", "StartCrawler", "StopCrawler", "GetCrawlerMetrics",
                "GetTags", "TagResource", "UntagResource",
            ],
            "athena": [
                "StartQueryExecution", "GetQueryExecution", "BatchGetQueryExecution", "GetQueryResults",
                "StopQueryExecution", "ListQueryExecutions", "CreateWorkGroup", "GetWorkGroup", "ListWorkGroups",
                "UpdateWorkGroup", "DeleteWorkGroup", "ListDataCatalogs", "GetDataCatalog", "ListDatabases",
                "GetDatabase", "GetTableMetadata", "ListTableMetadata",
                "TagResource", "UntagResource", "ListTagsForResource",
            ],
        }[service]
    )
]  # fmt: skip
HEADER_CHARS = string.ascii_letters + string.digits + string.punctuation + " "  # what an HTTP header can carry
NAMES = st.sampled_from(["db1", "t1", "c1", "primary", "wg1", "", "x" * 300, "s3://lake-bucket/a/", "../.."])


def from_shape(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a botocore shape: mostly well-typed, sometimes out of range, wrong type or absent."""
    kind = shape.type_name
    if depth > 4:
        return st.none()
    if kind == "structure":
        members = {name: from_shape(member, depth + 1) for name, member in shape.members.items()}
        required = {name: members[name] for name in shape.required_members}
        optional = {name: strat for name, strat in members.items() if name not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        return st.lists(from_shape(shape.member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), from_shape(shape.value, depth + 1), max_size=3)
    if kind == "string":
        enum = shape.metadata.get("enum")
        if enum:
            return st.sampled_from(enum) | st.text(max_size=5)
        return NAMES | st.text(string.printable, max_size=40) | st.text(max_size=10)
    if kind in ("integer", "long"):
        return st.integers(-(2**40), 2**40)
    if kind in ("double", "float"):
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.floats(0, 2e9) | st.text(max_size=10)
    return json_values


@st.composite
def shaped_requests(draw: st.DrawFn) -> tuple[str, str, dict]:
    prefix, service, name = draw(st.sampled_from(OPERATIONS))
    model = protocol.operation_model(service, name)
    assert model is not None, name
    params = draw(from_shape(model.input_shape)) if model.input_shape is not None else {}
    if draw(st.booleans()) and params:  # sometimes a member with a value of the wrong type
        params[draw(st.sampled_from(sorted(params)))] = draw(json_values)
    return f"{prefix}.{name}", service, params


# ------------------------------------------------------------------------------ tests
@FUZZ
@given(request=shaped_requests())
def test_model_shaped_requests_never_get_5xx(client: TestClient, request: tuple[str, str, dict]) -> None:
    target, service, params = request
    assert_client_error_or_ok(post(client, target, json.dumps(params).encode(), service))


@FUZZ
@given(
    target=st.sampled_from([f"{p}.{n}" for p, _, n in OPERATIONS]) | st.text(HEADER_CHARS, max_size=30),
    body=st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()),
    service=st.sampled_from(["glue", "athena", "sts", "s3"]),
)
def test_random_targets_and_bodies_never_get_5xx(client: TestClient, target: str, body: bytes, service: str) -> None:
    assert_client_error_or_ok(post(client, target, body, service))


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["Authorization", "X-Amz-Date", "X-Amz-Target", "Content-Type", "Host"]),
        st.text(HEADER_CHARS, max_size=80),
        max_size=5,
    ),
    body=st.binary(max_size=100),
)
def test_random_headers_never_get_5xx(client: TestClient, headers: dict[str, str], body: bytes) -> None:
    response = client.post("/", content=body, headers=headers)
    assert response.status_code < 500, response.text


def test_server_still_healthy_after_fuzzing(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    response = post(client, "AWSGlue.GetDatabases", b"{}", "glue")
    assert response.status_code == 200 and "DatabaseList" in response.json()
