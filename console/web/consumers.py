"""Live page updates over a websocket, for the htmx ws extension.

A page connects to `/ws/live/?subscribe=<group>...` and gets HTML fragments whose
`hx-swap-oob` attributes say where they go. Events only say that something changed: this
consumer re-reads the database and renders the same partials the page was rendered with. On
connect (and so on every reconnect) and on a gap in a group's event numbers it sends every
fragment in full; otherwise only what is new (the spans after the last one it sent). A check
every few seconds catches the losses no later event reveals (`_catch_up`).

Who gets what: an anonymous socket is closed (4401). Each subscription is checked against the
user and the object when the socket connects, and one that is not allowed (no role for it, an
object that does not exist or that the user may not see, a group name we do not know) is not
joined: it gets no events. A run page needs a role that reads runs and the run visible to the
user (`Run.objects.visible_to`); an approval page (`view=approval:<id>`) the request visible
(`ApprovalRequest.objects.visible_to`, its queue's reviewers). The approvals group carries every
queue's events, so each one is checked too: an event about a request the user cannot see is
dropped, unless what the user sees changed with it (a request moved out of one of their queues).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from agents.engine.models import Run
from agents.web.run_page import run_context, run_for_page, spans_after
from approvals.inbox import InboxFilters, filtered_inbox, outcome_context, pending_count, visible_request
from approvals.models import ApprovalRequest
from console.kernel import live
from console.kernel.roles import REVIEWERS, can_read_runs, has_role


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _run_id_of(group: str) -> uuid.UUID | None:
    return _uuid_or_none(group[4:]) if group.startswith("run-") else None


def _approval_view_id(views: set[str]) -> uuid.UUID | None:
    ids = [view.split(":", 1)[1] for view in sorted(views) if view.startswith("approval:")]
    return _uuid_or_none(ids[0]) if ids else None


log = logging.getLogger(__name__)


class LiveConsumer(AsyncWebsocketConsumer):
    # Seconds between checks that no event was lost unseen (see _catch_up).
    catch_up_seconds = 5.0
    catching_up: asyncio.Future[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ends (a close, or its channel layer failing), its check ends too.
            if self.catching_up is not None:
                self.catching_up.cancel()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        # The inbox's filters, so live rows match what the page shows.
        self.filters = {key: values[0] for key, values in query.items() if values}
        self.csrf_token = self.scope.get("cookies", {}).get("csrftoken", "")
        self.groups_joined, self.views = await database_sync_to_async(self._allowed)(
            user, query.get("subscribe", []), query.get("view", [])
        )
        # What this page was last sent of the approvals: the nav count and the requests in its
        # rows, to tell whether an event about a request the user cannot see still changes the
        # page (the request was just reassigned away from one of their queues).
        self.nav_pending: int | None = None
        self.shown_rows: set[uuid.UUID] = set()
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
        self.catching_up = asyncio.ensure_future(self._catch_up())

    async def _catch_up(self) -> None:
        """A gap shows only when a later event arrives: the last events of a run, or all of them
        while Redis restarts, can be lost with none after them. So every `catch_up_seconds`
        compare each group's event number with the last one seen, and on a difference re-read
        everything (and join the group again: a restarted Redis has forgotten it)."""
        current_seq = sync_to_async(live.current_seq, thread_sensitive=False)
        while True:
            await asyncio.sleep(self.catch_up_seconds)
            for group in self.groups_joined:
                try:
                    seq = await current_seq(group)
                    if seq != self.last_seq.get(group, 0):
                        self.last_seq[group] = seq
                        await self.channel_layer.group_add(group, self.channel_name)
                        await self._send_fragments(group, full=True)
                except Exception:  # noqa: BLE001 - Redis is down: try again next time
                    log.warning("live: could not catch up on %s", group, exc_info=True)

    def _allowed(self, user: Any, subscribe: list[str], views: list[str]) -> tuple[list[str], set[str]]:
        """The groups to join and the views to render: those of the requested ones that `user`
        may have, each checked against its object."""
        return self._allowed_groups(user, subscribe), self._allowed_views(user, views)

    def _allowed_groups(self, user: Any, requested: list[str]) -> list[str]:

        groups = []
        for group in dict.fromkeys(requested[:20]):
            run_id = _run_id_of(group)
            if group == live.APPROVALS_GROUP:
                if has_role(user, REVIEWERS):
                    groups.append(group)
            elif run_id is not None:
                if can_read_runs(user) and Run.objects.visible_to(user).filter(id=run_id).exists():
                    # The name the publisher uses (any other spelling of the id would never get
                    # an event, and may not even be a valid group name).
                    groups.append(live.run_group(run_id))
        return list(dict.fromkeys(groups))

    def _allowed_views(self, user: Any, requested: list[str]) -> set[str]:

        views: set[str] = set()
        if "approvals" in requested and has_role(user, REVIEWERS):
            views.add("approvals")
        approval_id = _approval_view_id(set(requested))
        if approval_id is not None and ApprovalRequest.objects.visible_to(user).filter(id=approval_id).exists():
            views.add(f"approval:{approval_id}")
        return views

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
        gap = seq != last + 1
        if group == live.APPROVALS_GROUP and not gap:
            approval_id = _uuid_or_none(str(event.get("approval_id", "")))
            if approval_id is not None and not await database_sync_to_async(self._concerns_user)(approval_id):
                return
        # A gap means events were lost: re-read everything. A status change redraws the
        # waterfall too, since the run's time axis has grown.
        await self._send_fragments(group, full=gap or event.get("kind") == "run")

    def _concerns_user(self, approval_id: uuid.UUID) -> bool:
        """Whether an event about this request changes what this page shows: the user sees the
        request, or it is in the rows they were last sent, or their pending count moved with it."""

        user = self.scope["user"]
        if approval_id in self.shown_rows:
            return True
        if ApprovalRequest.objects.visible_to(user).filter(id=approval_id).exists():
            return True
        return pending_count(user) != self.nav_pending

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

        approval_id = _approval_view_id(self.views)
        if approval_id is None:
            return ""
        approval = visible_request(self.scope["user"], approval_id)
        if approval is None:
            return ""
        context = {**outcome_context(approval), "oob": True}
        html = render_to_string("approvals/partials/_approval_status.html", context)
        return html + render_to_string("approvals/partials/_approval_outcome.html", context)

    def _render_approvals(self) -> str:

        user = self.scope["user"]
        self.nav_pending = pending_count(user)
        context = {"oob": True, "nav_pending": self.nav_pending}
        html = render_to_string("approvals/partials/_nav_count.html", context)
        if "approvals" in self.views:
            # The page the inbox shows (its filters and cursor came with the socket's query).
            filters = InboxFilters.from_query(self.filters)
            page = filtered_inbox(user, filters)
            self.shown_rows = {request.id for request in page.requests}
            html += render_to_string("approvals/partials/_approval_rows.html", {**context, "page": page, "filters": filters})
        return html

    def _render_run(self, run_id: uuid.UUID, full: bool) -> str:

        run = run_for_page(run_id)
        if run is None:
            return ""
        full = full or self.sent_status.get(run_id) != run.status
        self.sent_status[run_id] = run.status
        # All the spans after the last one sent (a full redraw: all of them), not a page: the
        # rows appended later must follow on from these.
        spans = spans_after(run, -1 if full else self.sent_span_seq.get(run_id, -1))
        context = {**run_context(run, self.scope["user"], spans=spans), "oob": True, "csrf_token": self.csrf_token}
        html = render_to_string("agents/partials/_run_header.html", context)
        html += render_to_string("agents/partials/_run_output.html", context)
        if full:
            html += render_to_string("agents/partials/_span_list.html", context)
        elif spans:
            html += render_to_string("agents/partials/_new_span_rows.html", context)
        if spans:
            self.sent_span_seq[run_id] = spans[-1].seq
        elif full:
            self.sent_span_seq[run_id] = -1
        return html
