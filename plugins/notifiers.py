"""The pipeline's alert notifier: DAG failure callbacks and deadline-alert callbacks.

One notifier, two ways in:

* ``on_failure_callback=PipelineAlertNotifier()`` on a DAG: Airflow runs it (``notify``) in the
  dag-processor when a run fails, with the run's context (the failed task as ``ti``).
* ``AsyncCallback(PipelineAlertNotifier, kwargs={...})`` in a ``DeadlineAlert``: the triggerer imports it
  by its dotted path (so it must live in an installed package like this one, not in a DAG file) and awaits
  it (``async_notify``) with a small context: ``{"dag_run": {...}, "deadline": {...}}``.

Every alert is appended to the local alerts log (``smartcity alerts`` shows it). Where configured, it is
also handed to the provider's notifiers: ``SnsNotifier`` for ``SMARTCITY_ALERT_SNS_TOPIC_ARN`` (through the
``aws_default`` connection) and ``SmtpNotifier`` for ``SMARTCITY_ALERT_EMAIL`` (``smtp_default``). The
configuration is read when an alert is sent, never when a DAG file is parsed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from smartcity.alerts import Alert, AlertKind, format_for_humans, record_alert
from smartcity.settings import get_settings


def _run_url(dag_id: str, run_id: str | None, task_id: str | None = None) -> str | None:
    from airflow.sdk.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    if not base or not run_id:
        return None
    url = f"{base.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id, safe='')}"
    return f"{url}/tasks/{task_id}" if task_id else url


def _get(obj: Any, name: str) -> Any:
    """A field of a context entry that is an object (dag-processor) or a dict (triggerer)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def alert_from_context(kind: AlertKind, context: Mapping[str, Any], message: str | None = None) -> Alert:
    """Build the alert from whatever the callback's context holds."""
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    ti = context.get("ti") or context.get("task_instance")
    dag_id = _get(dag_run, "dag_id") or _get(dag, "dag_id") or _get(ti, "dag_id") or "unknown"
    run_id = context.get("run_id") or _get(dag_run, "run_id") or _get(dag_run, "dag_run_id")
    task_id = _get(ti, "task_id") if kind == "dag_failed" else None
    if message is None:
        if kind == "dag_failed":
            reason = context.get("reason") or "failed"
            message = f"run failed ({reason})" + (f"; failed task: {task_id}" if task_id else "")
        else:
            deadline = context.get("deadline") or {}
            message = f"run still not finished at its deadline {_get(deadline, 'deadline_time') or ''}".strip()
    return Alert(
        kind=kind, dag_id=dag_id, run_id=run_id, task_id=task_id, message=message, url=_run_url(dag_id, run_id, task_id)
    )


class PipelineAlertNotifier(BaseNotifier):
    """Record a pipeline alert locally and forward it to the configured SNS topic / e-mail address.

    :param kind: ``dag_failed`` (failure callbacks) or ``deadline_missed`` (deadline alerts)
    :param message: a fixed message; by default one is built from the context
    """

    template_fields = ("message",)

    def __init__(
        self,
        kind: AlertKind = "dag_failed",
        message: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(context=context)
        self.kind = kind
        self.message = message

    def notify(self, context: Mapping[str, Any]) -> None:
        alert = alert_from_context(self.kind, context, self.message)
        record_alert(alert)
        self.log.warning("Pipeline alert: %s", alert.summary())
        for notifier in self._forwarders(alert):
            notifier(dict(context))  # renders its templates, then notify()

    async def async_notify(self, context: Mapping[str, Any]) -> None:
        # File and boto3 I/O are blocking: keep them off the triggerer's event loop.
        await asyncio.to_thread(self.notify, context)

    @staticmethod
    def _forwarders(alert: Alert) -> list[BaseNotifier]:
        settings = get_settings()
        subject = f"smartcity: {alert.kind} in {alert.dag_id}"
        body = format_for_humans(alert)
        forwarders: list[BaseNotifier] = []
        if settings.alert_sns_topic_arn:
            from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

            forwarders.append(SnsNotifier(target_arn=settings.alert_sns_topic_arn, message=body, subject=subject))
        if settings.alert_email:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            forwarders.append(SmtpNotifier(to=settings.alert_email, subject=subject, html_content=f"<pre>{body}</pre>"))
        return forwarders
