"""A small client for Airflow 3's REST API (``/api/v2``), as ``smartcity demo`` and the tests use it.

Authentication is Airflow's own: ``POST /auth/token`` with the user and password gives a JWT sent as a
bearer token. Errors come back as :class:`AirflowError` with Airflow's ``detail`` message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from smartcity.settings import Settings

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class AirflowError(Exception):
    """Airflow refused a request or did not answer; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _error_text(detail: Any) -> str:
    """Airflow's structured ``error_detail`` (a list of exceptions, outermost last) as text."""
    if isinstance(detail, list):
        return "\n".join(f"{e.get('exc_type')}: {e.get('exc_value')}" for e in detail if isinstance(e, dict))
    return str(detail)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return str(detail)[:2000]


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str | None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> AirflowClient:
        return cls(settings.airflow_base_url, settings.airflow_user, settings.admin_password)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------------------
    def login(self) -> str:
        if not self._password:
            raise AirflowError(
                "No Airflow password: start the stack (`smartcity stack up`) or set SMARTCITY_AIRFLOW_PASSWORD."
            )
        try:
            response = self._http.post("/auth/token", json={"username": self.username, "password": self._password})
        except httpx.HTTPError as exc:
            raise AirflowError(f"Airflow at {self.base_url} does not answer ({exc}); is the stack up?") from exc
        if response.status_code not in (200, 201):
            raise AirflowError(
                f"Airflow refused the login of {self.username!r}: {_detail(response)}", response.status_code
            )
        self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        token = self._token or self.login()
        try:
            response = self._http.request(method, path, headers={**(headers or {}), **self._auth(token)}, **kwargs)
            if response.status_code == 401:  # token expired: log in once more
                token = self.login()
                response = self._http.request(method, path, headers={**(headers or {}), **self._auth(token)}, **kwargs)
        except httpx.HTTPError as exc:
            raise AirflowError(f"Airflow at {self.base_url} does not answer ({exc}); is the stack up?") from exc
        if response.status_code >= 400:
            raise AirflowError(
                f"{method} {path}: HTTP {response.status_code}: {_detail(response)}", response.status_code
            )
        return response.json() if response.content else None

    @staticmethod
    def _auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # --- API ----------------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        try:
            return self._http.get("/api/v2/monitor/health").json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AirflowError(f"Airflow at {self.base_url} does not answer ({exc}); is the stack up?") from exc

    def dags(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v2/dags", params={"limit": 100})["dags"]

    def import_errors(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/v2/importErrors")["import_errors"]

    def wait_for_dag(self, dag_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
        """The DAG once the dag-processor has parsed it; a clear error naming import errors if it never shows."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.request("GET", f"/api/v2/dags/{dag_id}")
            except AirflowError as exc:
                if exc.status != 404:
                    raise
            if time.monotonic() > deadline:
                errors = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in self.import_errors())
                raise AirflowError(
                    f"DAG {dag_id} did not appear within {timeout_s:.0f} s. Import errors: {errors or 'none'}"
                )
            time.sleep(1)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.request("GET", path, params={"limit": 100})["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"deserialize": True})["value"]

    def task_log_entries(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list[Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        params = {"map_index": map_index} if map_index >= 0 else {}
        content = self.request("GET", path, headers={"Accept": "application/json"}, params=params)["content"]
        return content if isinstance(content, list) else [content]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The task's log as text, with the exception of a failed attempt spelled out."""
        lines = []
        for entry in self.task_log_entries(dag_id, run_id, task_id, try_number, map_index):
            if not isinstance(entry, dict):
                lines.append(str(entry))
                continue
            lines.append(str(entry.get("event", "")))
            if entry.get("error_detail"):
                lines.append(_error_text(entry["error_detail"]))
        return "\n".join(lines)

    def task_error(self, dag_id: str, run_id: str, task_instance: dict[str, Any]) -> str | None:
        """The exception a failed task instance ended with (its last attempt), if its log has one."""
        entries = self.task_log_entries(
            dag_id, run_id, task_instance["task_id"], max(task_instance["try_number"], 1), task_instance["map_index"]
        )
        errors = [_error_text(e["error_detail"]) for e in entries if isinstance(e, dict) and e.get("error_detail")]
        return errors[-1] if errors else None

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout_s: float,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
        interval_s: float = 2.0,
    ) -> dict[str, Any]:
        """Poll the run until it succeeds or fails (or ``timeout_s`` passes: AirflowError)."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.dag_run(dag_id, run_id)
            if on_poll:
                on_poll(run)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise AirflowError(f"{dag_id} run {run_id} still {run['state']} after {timeout_s:.0f} s")
            time.sleep(interval_s)
