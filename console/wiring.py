"""What the console connects when Django starts (console/apps.py): deploy checks, the login
throttle, and the dead-letter list's receiver."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.core import checks

from agents.engine.dead_letters import on_run_stopped
from agents.engine.signals import run_stopped
from console.checks import check_metrics_token
from console.kernel.ratelimit import record_login_failure
from console.langgraph_api import webhooks as langgraph_webhooks


def connect() -> None:
    checks.register(check_metrics_token, checks.Tags.security, deploy=True)
    # Failed logins count against the login throttle (console/kernel/ratelimit.py).
    user_login_failed.connect(record_login_failure, dispatch_uid="steward-login-throttle")
    # A run that ends failed lands in the dead-letter list (agents/engine/dead_letters.py).
    run_stopped.connect(on_run_stopped, dispatch_uid="steward-dead-letters")
    # A run started through the LangGraph API with a `webhook` calls it when it stops.
    run_stopped.connect(langgraph_webhooks.on_run_stopped, dispatch_uid="steward-langgraph-webhooks")
