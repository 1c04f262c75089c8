"""Live page updates over a websocket, for the htmx ws extension.

A page connects to `/ws/live/?subscribe=<group>...` and gets HTML fragments whose
`hx-swap-oob` attributes say where they go. Events only say that something changed: this
consumer re-reads the database and renders the same partials the page was rendered with. On
connect (and so on every reconnect) and on a gap in a group's event numbers it sends every
fragment in full; otherwise only what is new (the spans after the last one it sent).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from console import live
from console.roles import REVIEWERS, can_read_runs, can_start_runs, has_role


def _run_id_of(group: str) -> uuid.UUID | None:
    if not group.startswith("run-"):
        return None
    try:
        return uuid.UUID(group[4:])
    except ValueError:
        return None


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.views = set(query.get("view", []))
        # The inbox's filters, so live rows match what the page shows.
        self.filters = {key: values[0] for key, values in query.items() if values}
        self.csrf_token = self.scope.get("cookies", {}).get("csrftoken", "")
        self.groups_joined = await database_sync_to_async(self._allowed_groups)(user, query.get("subscribe", []))
        self.last_seq: dict[str, int] = {}
        self.sent_span_seq: dict[uuid.UUID, int] = {}
        # The status each run page last got: a new status redraws the waterfall in full, whichever
        # event brought the page here (a trailing span event can see a run already finished).
        self.sent_status: dict[uuid.UUID, str] = {}
        await self.accept()
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.last_seq[group] = live.current_seq(group)
            await self._send_fragments(group, full=True)

    def _allowed_groups(self, user: Any, requested: list[str]) -> list[str]:
        groups = []
        for group in dict.fromkeys(requested):
            if group == live.APPROVALS_GROUP and has_role(user, REVIEWERS):
                groups.append(group)
            elif _run_id_of(group) is not None and can_read_runs(user):
                groups.append(group)
        return groups

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return None  # the page sends nothing we act on

    async def steward_event(self, event: dict[str, Any]) -> None:
        group, seq = event.get("group", ""), int(event.get("seq", 0))
        last = self.last_seq.get(group, 0)
        if seq <= last:
            return  # already covered by a full render
        self.last_seq[group] = seq
        # A gap means events were lost: re-read everything. A status change redraws the
        # waterfall too, since the run's time axis has grown.
        await self._send_fragments(group, full=seq != last + 1 or event.get("kind") == "run")

    async def _send_fragments(self, group: str, full: bool) -> None:
        html = await database_sync_to_async(self._render)(group, full)
        if html:
            await self.send(text_data=html)

    def _render(self, group: str, full: bool) -> str:
        html = self._render_approval_outcome()
        if group == live.APPROVALS_GROUP:
            return html + self._render_approvals()
        run_id = _run_id_of(group)
        if run_id and not html:
            html = self._render_run(run_id, full)
        return html

    def _render_approval_outcome(self) -> str:
        """On a request's page: its status, quorum and, once decided, what the run did."""
        from approvals.inbox import outcome_of
        from approvals.models import ApprovalRequest
        from console.pages import pretty

        ids = [v.split(":", 1)[1] for v in self.views if v.startswith("approval:")]
        if not ids:
            return ""
        try:
            approval_id = uuid.UUID(ids[0])
        except ValueError:
            return ""
        approval = (
            ApprovalRequest.objects.visible_to(self.scope["user"])
            .select_related("queue", "decided_by")
            .filter(id=approval_id)
            .first()
        )
        if approval is None:
            return ""
        context = {
            "oob": True,
            "approval": approval,
            "approved_args": pretty(approval.approved_args),
            "outcome": outcome_of(approval),
        }
        status = f'<span class="status {approval.status}" id="approval-status" hx-swap-oob="true">{approval.status}</span>'
        return status + render_to_string("approvals/partials/_approval_outcome.html", context)

    def _render_approvals(self) -> str:
        from approvals.inbox import InboxFilters
        from approvals.models import ApprovalRequest
        from approvals.views import pending_for

        user = self.scope["user"]
        context = {"oob": True, "nav_pending": ApprovalRequest.objects.pending().visible_to(user).count()}
        html = render_to_string("approvals/partials/_nav_count.html", context)
        if "approvals" in self.views:
            requests = pending_for(user, InboxFilters.from_query(self.filters))
            html += render_to_string("approvals/partials/_approval_rows.html", {**context, "requests": requests})
        return html

    def _render_run(self, run_id: uuid.UUID, full: bool) -> str:
        from agents.models import Run
        from agents.views import run_context, span_rows
        from traces.models import Span

        run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
        if run is None:
            return ""
        user = self.scope["user"]
        full = full or self.sent_status.get(run_id) != run.status
        self.sent_status[run_id] = run.status
        after = -1 if full else self.sent_span_seq.get(run_id, -1)
        spans = list(Span.objects.filter(run=run, seq__gt=after).order_by("seq"))
        context = {
            **run_context(run, spans=[]),
            "oob": True,
            "can_cancel": can_start_runs(user),
            "csrf_token": self.csrf_token,
        }
        html = render_to_string("agents/partials/_run_header.html", context)
        html += render_to_string("agents/partials/_run_output.html", context)
        rows = render_to_string("agents/partials/_span_rows.html", {"rows": span_rows(spans, run), "run": run})
        if full:
            html += f'<div id="span-rows" hx-swap-oob="true">{rows}</div>'
        elif spans:
            html += f'<div hx-swap-oob="beforeend:#span-rows">{rows}</div>'
        if spans:
            self.sent_span_seq[run_id] = spans[-1].seq
        elif full:
            self.sent_span_seq[run_id] = -1
        return html
