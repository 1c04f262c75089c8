"""The LangGraph API's periodic task (on beat: settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from console.langgraph_api.crons import fire_due_crons


@shared_task(name="langgraph.fire_crons", ignore_result=True)
def fire_crons() -> int:
    """Start the runs of the crons whose time has come (each firing once, whoever else runs this)."""
    return fire_due_crons()
