"""Per-run completion webhooks (a run's `webhook`): the URL passes the outbound address check
when the run is created (runs.py), and again at each attempt; a POST goes out each time the run
stops (finished, or waiting for a person: on LangGraph Platform each of those ends a run),
through console/kernel/outbound.py (internal addresses refused, no redirects followed)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from celery import shared_task
from django.core.serializers.json import DjangoJSONEncoder

from agents.engine.graph_call import GraphCall
from console.kernel import outbound
from console.langgraph_api.models import SdkRun

__all__ = ["on_run_stopped", "send_run_webhook"]

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 3


def webhook_of(run_id: uuid.UUID | str) -> str:
    kwargs = SdkRun.objects.filter(run_id=run_id).values_list("kwargs", flat=True).first() or {}
    return str(kwargs.get("webhook") or "")


def on_run_stopped(
    sender: Any, run_id: uuid.UUID, status: str, metadata: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """`run_stopped` receiver (console/wiring.py): queue the run's webhook, if it has one. A run
    created with one says so in its metadata (runs.py `_graph_call`): the others need no query."""
    if metadata is not None and not GraphCall.from_metadata(metadata).webhook:
        return
    if webhook_of(run_id):
        send_run_webhook.apply_async(args=(str(run_id),))


def _payload(run_id: str) -> bytes:
    from console.langgraph_api.runs import (  # runs.py checks URLs with outbound, not this module
        final_values,
        run_out,
    )

    sdk = SdkRun.objects.select_related("run__agent").get(run_id=run_id)
    data = {**run_out(sdk.run, sdk), "values": final_values(sdk.run)}
    return json.dumps(data, cls=DjangoJSONEncoder).encode()


@shared_task(name="langgraph_api.send_run_webhook", bind=True, max_retries=MAX_ATTEMPTS - 1, ignore_result=True)
def send_run_webhook(self: Any, run_id: str) -> str:
    """One POST of the run as the SDK reads it (with its `values`); retried on no answer or a 5xx."""
    url = webhook_of(run_id)
    try:
        checked = outbound.check_url(url)
    except outbound.OutboundError as exc:
        log.warning("run %s: webhook not sent: %s", run_id, exc)
        return "refused"
    result = outbound.post_json(checked, _payload(run_id), {"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS)
    if result.ok:
        return "delivered"
    log.warning("run %s: webhook answered %s %s", run_id, result.status, result.reason)
    if result.status is None or result.status >= 500:
        raise self.retry(countdown=2 ** self.request.retries)
    return "failed"
