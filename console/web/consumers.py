"""Live page updates over a websocket, for the htmx ws extension.

A page connects to `/ws/live/?subscribe=<group>...` and gets HTML fragments whose
`hx-swap-oob` attributes say where they go. Events only say that something changed: this
consumer re-reads the database and renders the same partials the page was rendered with. On
connect (and so on every reconnect) and on a gap in a group's event numbers it sends every
fragment in full (a run page: its header, output, first span rows and latest span number; the
page loads the rows it lacks from `GET /api/runs/{id}/steps`); otherwise only what is new (the
spans after the last one it sent, in pages). No message exceeds MESSAGE_BYTES. A check every few
seconds catches the losses no later event reveals (`_catch_up`).

Who gets what: an anonymous socket is closed (4401). Each subscription is checked against the
user and the object when the socket connects, and one that is not allowed (no role for it, an
object that does not exist or that the user may not see, a group name we do not know) is not
joined: it gets no events. A run page needs a role that reads runs and the run visible to the
user (`Run.objects.visible_to`); an approval page (`view=approval:<id>`) the request visible
(`approvals.inbox.visible_request`: its queue's reviewers with the reviewers role; or its run's
requester when the request is put to them). The approvals group and the inbox view are the
reviewers', and a run's requester's while a question their run puts to them waits
(`approvals.inbox.may_open_inbox`), who gets only those (`approvals.inbox.filters_for`) and
their count (`approvals.inbox.nav_count`), as the page shows them. The approvals group carries
every queue's events, so each one is checked too: an event about a request the user cannot see is
dropped, unless what the user sees changed with it (a request moved out of one of their queues).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from agents.engine.models import Run
from agents.web.run_page import run_context, run_for_page, span_rows, spans_after, spans_up_to
from approvals.inbox import (
    InboxFilters,
    filtered_inbox,
    filters_for,
    may_open_inbox,
    nav_count,
    new_count,
    outcome_context,
    pane_live_context,
    visible_request,
)
from approvals.models import ApprovalRequest
from console.kernel import live
from console.kernel.roles import can_read_runs
from traces.recording.models import Span


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


def _reading(read: Any) -> Any:
    """`read` (a render, a check) on a thread of the executor's pool, not on the one thread that
    runs every sync view of the process: a push after each decision then no longer holds up the
    reviewer's next decision (the inbox's keyboard p95). Its connection comes from Django's pool
    and goes back when it ends, like a request's."""
    return database_sync_to_async(read, thread_sensitive=False)

# A message stays far below daphne's 1 MiB websocket limit (a bigger one closes the socket and
# the page stops updating): a run's header and output are clipped (agents/web/run_page.py) and
# its span rows go in pages.
MESSAGE_BYTES = 256 * 1024
PUSH_ROWS = 100


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
        self.csrf_token = self.scope.get("cookies", {}).get("csrftoken", "")
        self.groups_joined, self.views = await database_sync_to_async(self._allowed)(
            user, query.get("subscribe", []), query.get("view", [])
        )
        # The inbox's filters, so live rows match what the page shows (and its bar counts what is
        # new since the page read them); the page says when they change (`receive`).
        self.filters = await _reading(self._inbox_filters)({key: values[0] for key, values in query.items() if values})
        # What this page was last sent of the approvals: the nav count and the requests in its
        # rows, to tell whether an event about a request the user cannot see still changes the
        # page (the request was just reassigned away from one of their queues).
        self.nav_pending: int | None = None
        self.shown_rows: set[uuid.UUID] = set()
        # The request the inbox's pane shows: the page says so (`receive`) whenever it changes.
        self.pane_id: uuid.UUID | None = None
        self.last_seq: dict[str, int] = {}
        self.sent_span_seq: dict[uuid.UUID, int] = {}
        # How many spans the page has, all numbered up to sent_span_seq.
        self.sent_span_count: dict[uuid.UUID, int] = {}
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
                if may_open_inbox(user):
                    groups.append(group)
            elif run_id is not None:
                if can_read_runs(user) and Run.objects.visible_to(user).filter(id=run_id).exists():
                    # The name the publisher uses (any other spelling of the id would never get
                    # an event, and may not even be a valid group name).
                    groups.append(live.run_group(run_id))
        return list(dict.fromkeys(groups))

    def _allowed_views(self, user: Any, requested: list[str]) -> set[str]:

        views: set[str] = set()
        if "approvals" in requested and may_open_inbox(user):
            views.add("approvals")
        approval_id = _approval_view_id(set(requested))
        # A reviewer's request, or the run's requester's when it is put to them.
        if approval_id is not None and visible_request(user, approval_id) is not None:
            views.add(f"approval:{approval_id}")
        return views

    def _inbox_filters(self, query: dict[str, str]) -> InboxFilters:
        """The inbox's filters from the page's query, as the page reads them (`filters_for`: no
        reviewers role, only the questions put to the user)."""
        return filters_for(self.scope["user"], InboxFilters.from_query(query))

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The inbox says which request its pane shows and the query of its list (`{"pane": "<id>",
        "inbox": "<query>"}`, static/console/inbox.js): the pane's live part is sent now (it may
        have changed since the pane was rendered, or while the socket was down) and whenever the
        request changes; a list whose query changed (the reviewer showed the new requests) gets
        its rows and bar now, and from then on for that query. Anything else is ignored."""
        if "approvals" not in self.views or not text_data or len(text_data) > 2000:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        pane, query = message.get("pane"), message.get("inbox")
        self.pane_id = _uuid_or_none(pane) if isinstance(pane, str) else None
        listed = {key: values[0] for key, values in parse_qs(query).items() if values} if isinstance(query, str) else None
        filters = await _reading(self._inbox_filters)(listed) if listed is not None else None
        if filters is not None and filters != self.filters:
            # Only the list's filters: the groups and views were checked when the socket connected.
            self.filters = filters
            html = await _reading(self._render_approvals)()
        else:
            html = await _reading(self._render_pane)() if self.pane_id is not None else ""
        if html:
            await self.send(text_data=html)

    async def steward_event(self, event: dict[str, Any]) -> None:
        group, seq = event.get("group", ""), int(event.get("seq", 0))
        last = self.last_seq.get(group, 0)
        if seq <= last:
            return  # already covered by a full render
        self.last_seq[group] = seq
        gap = seq != last + 1
        if group == live.APPROVALS_GROUP and not gap:
            approval_id = _uuid_or_none(str(event.get("approval_id", "")))
            if approval_id is not None and not await _reading(self._concerns_user)(approval_id):
                return
        # A gap means events were lost: re-read everything (the page loads what it lacks).
        await self._send_fragments(group, full=gap)

    def _concerns_user(self, approval_id: uuid.UUID) -> bool:
        """Whether an event about this request changes what this page shows: the user sees the
        request, or it is in the rows they were last sent, or their pending count moved with it."""

        user = self.scope["user"]
        if approval_id in self.shown_rows or approval_id == self.pane_id:
            return True
        if ApprovalRequest.objects.visible_to(user).filter(id=approval_id).exists():
            return True
        return nav_count(user) != self.nav_pending

    async def _send_fragments(self, group: str, full: bool) -> None:
        for html in await _reading(self._render)(group, full):
            await self.send(text_data=html)

    def _render(self, group: str, full: bool) -> list[str]:
        html = self._render_approval_outcome()
        if group == live.APPROVALS_GROUP:
            html += self._render_approvals()
        else:
            run_id = _run_id_of(group)
            if run_id and not html:
                return self._render_run(run_id, full)
        return [html] if html else []

    def _render_approval_outcome(self) -> str:
        """On a request's page: its status, quorum and, once decided, what the run did."""

        approval_id = _approval_view_id(self.views)
        if approval_id is None:
            return ""
        user = self.scope["user"]
        approval = visible_request(user, approval_id)
        if approval is None:
            return ""
        context = {**outcome_context(approval), "oob": True}
        html = render_to_string("approvals/partials/_approval_status.html", context)
        return html + render_to_string("approvals/partials/_approval_outcome.html", context)

    def _render_approvals(self) -> str:

        user = self.scope["user"]
        self.nav_pending = nav_count(user)
        context: dict[str, Any] = {"oob": True, "nav_pending": self.nav_pending}
        html: str = render_to_string("approvals/partials/_nav_count.html", context)
        if "approvals" in self.views:
            # The page the inbox shows (its filters, cursor and time came with the socket's query,
            # or since with the page's `receive`); what arrived after that time, its bar counts.
            page = filtered_inbox(user, self.filters)
            # As the page was read (`filtered_inbox`): the pane's next request follows the same list.
            self.filters = page.filters
            self.shown_rows = {request.id for request in page.fresh + page.requests}
            context = {**context, "page": page, "filters": page.filters, "new_count": new_count(user, page.filters)}
            html += render_to_string("approvals/partials/_approval_rows.html", context)
            html += render_to_string("approvals/partials/_new_requests.html", context)
            html += self._render_pane()
        return html

    def _render_pane(self) -> str:
        """The live part of the request in the inbox's pane: settled (by whom, and the request
        offered next) or held by someone else; nothing when the user may no longer see it."""
        if self.pane_id is None:
            return ""
        user = self.scope["user"]
        approval = visible_request(user, self.pane_id)
        if approval is None:
            return ""
        context = {**pane_live_context(user, approval, self.filters), "oob": True, "user": user}
        return render_to_string("approvals/partials/_pane_live.html", context)

    def _render_run(self, run_id: uuid.UUID, full: bool) -> list[str]:
        """The run's header and output, and the span rows the page lacks, as messages of at most
        MESSAGE_BYTES. In full (a connect, a gap): the first rows and the run's latest span
        number, and the page loads the rest from the API; otherwise the spans after the last
        one sent, in as many messages as they need."""

        run = run_for_page(run_id)
        if run is None:
            return []
        context = {**run_context(run, self.scope["user"], spans=[]), "oob": True, "csrf_token": self.csrf_token}
        head: str = render_to_string("agents/partials/_run_header.html", context)
        head += render_to_string("agents/partials/_run_output.html", context)
        last_sent = self.sent_span_seq.get(run_id, -1)
        if not full and spans_up_to(run, last_sent) != self.sent_span_count.get(run_id, 0):
            # A span numbered before the last one sent committed after it (a fan-out's tasks
            # commit as each finishes): rows go after the last one, so the list is sent anew.
            full = True
        if full:
            spans = spans_after(run, -1, PUSH_ROWS)
            self.sent_span_seq[run_id] = max(context["span_last_seq"], spans[-1].seq if spans else -1)
            # The page then has every span up to that number (it loads what the rows leave out).
            self.sent_span_count[run_id] = spans_up_to(run, self.sent_span_seq[run_id])
            return [self._with_rows(head, "agents/partials/_span_list.html", context, spans)[0]]
        messages: list[str] = []
        while True:
            spans = spans_after(run, self.sent_span_seq.get(run_id, -1), PUSH_ROWS)
            if not spans:
                return messages or [head]
            html, sent = self._with_rows(head, "agents/partials/_new_span_rows.html", context, spans)
            messages.append(html)
            self.sent_span_seq[run_id] = sent[-1].seq
            self.sent_span_count[run_id] = self.sent_span_count.get(run_id, 0) + len(sent)
            head = ""  # the header goes once, with the first page of rows

    def _with_rows(self, head: str, template: str, context: dict[str, Any], spans: list[Span]) -> tuple[str, list[Span]]:
        """`head` and the rows of as many of `spans` (from the first) as fit in MESSAGE_BYTES."""
        while True:
            html = head + render_to_string(template, {**context, "rows": span_rows(spans, context["run"])})
            if len(html.encode()) <= MESSAGE_BYTES or len(spans) <= 1:
                return html, spans
            spans = spans[: len(spans) // 2]
