"""What the reviewers' pages show: the filtered inbox, a request's context, its edit form.

Shared by the page views and the live consumer, so a page and its live updates always agree.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan  # type: ignore[import-untyped]
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from agents.engine.models import Agent, Run
from approvals import answer_form
from approvals.models import ApprovalRequest, Decision, Queue
from approvals.shown_args import shown
from console.kernel.cursors import decode_raw, encode_cursor
from console.kernel.display import amount_currency, format_amount, format_value
from console.kernel.errors import Invalid
from console.kernel.models import AuditEvent
from console.kernel.pages import pretty
from console.kernel.redaction import is_marker
from console.kernel.roles import REVIEWERS, has_role, is_admin
from traces.recording.models import Span

__all__ = [
    "AGES",
    "DUES",
    "InboxFilters",
    "InboxPage",
    "conversation_of",
    "description_html",
    "edit_fields",
    "filtered_inbox",
    "filters_for",
    "amount_of",
    "approvers_of",
    "args_items",
    "asked_count",
    "diff_items",
    "may_open_inbox",
    "history_of",
    "nav_count",
    "new_count",
    "next_after",
    "outcome_context",
    "outcome_of",
    "pane_live_context",
    "parse_edit",
    "pending_count",
    "put_to_requester",
    "undeclared_errors",
    "visible_request",
]

AGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
DUES = ("overdue", "today")
# Rows per page of the inbox: a screenful or two, rendered fast whatever the backlog.
PAGE_SIZE = 50


@dataclass
class InboxFilters:
    queue: str = ""
    agent: str = ""
    age: str = ""  # older than
    due: str = ""
    condition: str = ""  # "yes": gated by a condition; "no": gated always
    asked: str = ""  # "1": the questions put to the user as their runs' requester ("Asked of you")
    cursor: str = ""  # the page: after this row (keyset), "" for the first
    # When the list was read (ISO): it lists the requests that had arrived by then, and the bar
    # counts those after (`new_count`), so that a request arriving while the reviewer works
    # through the list does not move the rows under their cursor.
    since: str = ""
    # When the reviewer first asked to see the new ones (ISO): the requests that arrived between
    # it and `since` are shown on top of the list, the rest in the list's order under them.
    fresh: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: Any) -> InboxFilters:
        """Read filters from a QueryDict (or dict of lists); bad values are dropped with a message."""
        get = (lambda k: query.get(k, "")) if hasattr(query, "get") else (lambda k: "")
        filters = cls(
            queue=get("queue"), agent=get("agent"), age=get("age"), due=get("due"), condition=get("condition"),
            asked=get("asked"), cursor=get("cursor"), since=get("since"), fresh=get("fresh"),
        )
        # Times this server wrote into the page's links; anything else is dropped (the list then
        # starts afresh: everything that has arrived, in its order).
        if filters.since and _moment(filters.since) is None:
            filters.since = ""
        if filters.fresh and _moment(filters.fresh) is None:
            filters.fresh = ""
        if filters.age and filters.age not in AGES:
            filters.errors.append(f"Unknown age {filters.age!r}: ignored.")
            filters.age = ""
        if filters.due and filters.due not in DUES:
            filters.errors.append(f"Unknown due filter {filters.due!r}: ignored.")
            filters.due = ""
        if filters.condition and filters.condition not in ("yes", "no"):
            filters.errors.append(f"Unknown condition filter {filters.condition!r}: ignored.")
            filters.condition = ""
        if filters.asked and filters.asked != "1":
            filters.errors.append(f"Unknown asked filter {filters.asked!r}: ignored.")
            filters.asked = ""
        if filters.cursor and _cursor_keys(filters.cursor) is None:
            filters.errors.append("That page of the inbox is not one this server gave: showing the first.")
            filters.cursor = ""
        return filters

    def as_query(self) -> str:
        """The filters and the page as a query string (the live push and the pane render the same page)."""
        return urlencode({k: v for k, v in self.__dict__.items() if k != "errors" and v})

    @property
    def since_at(self) -> datetime | None:
        return _moment(self.since)

    @property
    def fresh_at(self) -> datetime | None:
        return _moment(self.fresh) if self.since else None

    def read_now(self) -> InboxFilters:
        """These filters for a list read now: `since` is now unless the link carried one."""
        return self if self.since else replace(self, since=timezone.now().isoformat(), errors=list(self.errors))

    def show_new_query(self) -> str:
        """The query of the list with its new requests on top: those after `since` become fresh
        (from the first time they were shown), and the page reads the list again (`read_now`)."""
        query = {k: v for k, v in self.__dict__.items() if k not in ("errors", "since", "cursor") and v}
        return urlencode({**query, "fresh": self.fresh or self.since})


def filters_for(user: Any, filters: InboxFilters) -> InboxFilters:
    """The filters `user`'s inbox is read with, on the page, in its pane and over the live socket:
    someone without the reviewers role sees only the questions put to them ("Asked of you"),
    whatever the query says (a queue's reviewer group may be any group; reviewing is the role's)."""
    return filters if has_role(user, REVIEWERS) else replace(filters, asked="1", errors=list(filters.errors))


def _moment(text: str) -> datetime | None:
    try:
        moment = parse_datetime(text) if text else None
    except ValueError:
        return None
    return moment if moment is not None and timezone.is_aware(moment) else None


@dataclass
class InboxPage:
    """One page of the inbox: its rows, and the cursor of the page after it ("" on the last)."""

    requests: list[ApprovalRequest]
    next_cursor: str
    filters: InboxFilters
    # The new requests the reviewer asked to see, shown on top of the page (`InboxFilters.fresh`).
    fresh: list[ApprovalRequest] = field(default_factory=list)

    @property
    def is_first(self) -> bool:
        return not self.filters.cursor

    def next_query(self) -> str:
        return urlencode({**_query_dict(self.filters), "cursor": self.next_cursor})

    def first_query(self) -> str:
        return urlencode(_query_dict(self.filters))


def _query_dict(filters: InboxFilters) -> dict[str, str]:
    return {k: v for k, v in filters.__dict__.items() if k not in ("errors", "cursor") and v}


# The inbox's order, and its keyset: (due_at, created_at, id). `due_at` is always set (`save`
# sets it from the queue's SLA, the seeding command too), so the tuple comparison sees no NULL.
INBOX_ORDER = ("due_at", "created_at", "id")


def _cursor_of(request: ApprovalRequest) -> str:
    assert request.due_at is not None
    return encode_cursor([request.due_at.isoformat(), request.created_at.isoformat()], request.id)


def _cursor_keys(cursor: str) -> tuple[Any, Any, Any] | None:
    """(due_at, created_at, id) of a cursor's row, or None when it is not one we issued."""
    try:
        value, row_id = decode_raw(cursor)
    except Invalid:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return None
    due, created = parse_datetime(value[0]), parse_datetime(value[1])
    if due is None or created is None:
        return None
    return due, created, row_id


def _after(requests: QuerySet[ApprovalRequest], keys: tuple[Any, Any, Any]) -> QuerySet[ApprovalRequest]:
    """The rows after `keys` in the inbox's order: one row comparison, which Postgres answers as a
    range of the index `approval_status_due` (in one queue, `approval_pending_queue_due`): 0.6 ms
    for a page 20 deep in 10,000 pending requests."""
    return requests.filter(TupleGreaterThan(Tuple(*(F(name) for name in INBOX_ORDER)), keys))


def filtered_inbox(user: Any, filters: InboxFilters, limit: int = PAGE_SIZE) -> InboxPage:
    """A page of the pending requests in the user's queues (with `asked`, of those put to them as
    their runs' requester), due first (the most urgent on top), keyset-paginated: a page deep in
    a backlog of thousands costs what the first one does. The page's `filters` are those it was
    read with (`_fresh_on_top`): the page, its links and the next request follow them."""
    filters, fresh = _fresh_on_top(user, filters, limit)
    rows = list(_page_queryset(user, filters)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(requests=rows, next_cursor=_cursor_of(rows[-1]) if more else "", filters=filters, fresh=fresh)


def _fresh_on_top(user: Any, filters: InboxFilters, limit: int = PAGE_SIZE) -> tuple[InboxFilters, list[ApprovalRequest]]:
    """The filters the list is read with, and the new requests shown on top of its first page
    (none on the pages after it: they are on the first). When more than `limit` arrived they are
    too many to put on top of a page (some would be on no page at all): the list is read afresh,
    in its order, up to `since` (the time "show" read it), without `fresh`."""
    if filters.fresh_at is None:
        return filters, []
    fresh = list(_fresh(user, filters)[: limit + 1])
    if len(fresh) > limit:
        return replace(filters, fresh="", errors=list(filters.errors)), []
    return filters, [] if filters.cursor else fresh


def new_count(user: Any, filters: InboxFilters) -> int:
    """How many requests of the list (its filters, the user's queues) arrived after it was read:
    the number on its "N new requests" bar (`_new_requests.html`)."""
    since = filters.since_at
    return _inbox_queryset(user, filters).filter(created_at__gt=since).count() if since else 0


def _listed(user: Any, filters: InboxFilters) -> QuerySet[ApprovalRequest]:
    """The requests the list shows in its order: those that had arrived when it was read (and,
    once shown, before the new ones on top)."""
    requests = _inbox_queryset(user, filters)
    until = filters.fresh_at or filters.since_at
    return requests.filter(created_at__lte=until) if until else requests


def _page_queryset(user: Any, filters: InboxFilters) -> QuerySet[ApprovalRequest]:
    keys = _cursor_keys(filters.cursor) if filters.cursor else None
    return _after(_listed(user, filters), keys) if keys is not None else _listed(user, filters)


def _fresh(user: Any, filters: InboxFilters) -> QuerySet[ApprovalRequest]:
    """The new requests shown on top of the list, in the list's order."""
    fresh, since = filters.fresh_at, filters.since_at
    if fresh is None or since is None:
        return ApprovalRequest.objects.none()
    return _inbox_queryset(user, filters).filter(created_at__gt=fresh, created_at__lte=since)


def next_after(
    user: Any, filters: InboxFilters, decided: ApprovalRequest, page: InboxPage | None = None
) -> ApprovalRequest | None:
    """The request the inbox shows after `decided` was decided: the next one in the list's order,
    else the first one (the reviewer worked to the end of the list). With the list's `page` (read
    after the decision), a row of it when it has one after `decided`: no query of its own. The new
    requests shown on top come first, as the list shows them: after the last of them, the top of
    the page under them."""
    assert decided.due_at is not None
    keys = (decided.due_at, decided.created_at, decided.id)
    filters = page.filters if page is not None else _fresh_on_top(user, filters)[0]
    fresh, since = filters.fresh_at, filters.since_at
    if fresh is not None and since is not None and fresh < decided.created_at <= since:
        following = _after(_fresh(user, filters).exclude(id=decided.id), keys).first()
        return following or _page_queryset(user, filters).exclude(id=decided.id).first()
    # The page holds the next row if it starts before `decided` (a later page's first row may not
    # be the next one).
    if page is not None and (page.is_first or (page.requests and _keys_of(page.requests[0]) < keys)):
        following = next((r for r in page.requests if r.id != decided.id and _keys_of(r) > keys), None)
        if following is not None:
            return following
    requests = _listed(user, filters).exclude(id=decided.id)
    return _after(requests, keys).first() or _fresh(user, filters).exclude(id=decided.id).first() or requests.first()


def _keys_of(request: ApprovalRequest) -> tuple[Any, Any, Any]:
    return request.due_at, request.created_at, request.id


def pane_live_context(user: Any, approval: ApprovalRequest, filters: InboxFilters) -> dict[str, Any]:
    """The pane's live part (`_pane_live.html`), on the page and in the push: the request's status,
    whether this reviewer may still decide it (settled, or held by someone else: the pane's forms
    are disabled), and once it is settled the request the list offers next."""
    settled = approval.status != ApprovalRequest.Status.PENDING
    quorum = approval.queue.required_approvals > 1
    approvers = approvers_of(approval) if quorum else []
    # Their own vote, whether or not it is among the names shown.
    voted = quorum and _votes(approval).filter(user_id=user.pk).exists()
    return {
        "approval": approval,
        "pane_filters": filters,
        "decidable": not settled and not voted and not approval.held_by_other(user),
        "approvers": [name for _, name in approvers],
        "approvers_more": max(0, approval.approvals - len(approvers)),
        "voted": voted,
        "votes_missing": max(0, approval.queue.required_approvals - approval.approvals),
        "holder": approval.current_holder,
        "settled_by": (
            approval.decided_by.get_username() if approval.decided_by else approval.decided_automatically_by or "the system"
        ) if settled else "",
        "offered": next_after(user, filters, approval) if settled else None,
    }


# The approvers a pane names; a bigger quorum's others are counted ("and 3 more"): the live
# fragment stays small whatever the quorum.
APPROVERS_SHOWN = 10


def approvers_of(approval: ApprovalRequest) -> list[tuple[int, str]]:
    """(user id, username) of the people who approved the request so far (an edit is an
    approval), first vote first; votes set aside when a refused answer reopened it are not
    counted, as the quorum does not count them."""
    votes = _votes(approval).order_by("created_at")
    # The user model's name field: a custom user model may not call it `username`.
    name = f"user__{get_user_model().USERNAME_FIELD}"
    return [(user_id, str(shown)) for user_id, shown in votes.values_list("user_id", name)[:APPROVERS_SHOWN]]


def _votes(approval: ApprovalRequest) -> QuerySet[Decision]:
    """The request's approvals that count towards its quorum (not those set aside by a refused answer)."""
    return Decision.objects.filter(
        request_id=approval.id, user__isnull=False, superseded_at__isnull=True,
        decision__in=(Decision.Kind.APPROVE, Decision.Kind.EDIT),
    )


def amount_of(request: ApprovalRequest) -> str:
    """ "250.00 USD" when the action's schema declares a currency for one of its arguments
    (`gated_tool(currencies=...)`), else ""."""
    properties = (request.args_schema or {}).get("properties") or {}
    args = request.proposed_args if isinstance(request.proposed_args, dict) else {}
    for name in properties:
        currency = amount_currency(request.args_schema, name)
        if currency and name in args:
            return format_amount(args[name], currency)
    return ""


def args_items(args: Any, schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """An action's arguments as people read them (`_args_list.html`): one {name, text, nested}
    each, in the order the action declares them, amounts with the currency it declares for them
    (`console.kernel.display.format_value`). [] when the arguments are not an object."""
    if not isinstance(args, dict):
        return []
    return [
        {"name": name, "text": format_value(args[name], amount_currency(schema, name)), "nested": isinstance(args[name], (dict, list))}
        for name in _declared_order(schema, list(args))
    ]


def diff_items(diff: list[dict[str, Any]], schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """An edit's diff (`services.args_diff`) with both sides as `args_items` shows them."""
    return [
        {
            "field": change["field"],
            "from": format_value(change["from"], amount_currency(schema, change["field"])),
            "to": format_value(change["to"], amount_currency(schema, change["field"])),
            "nested": isinstance(change["from"], (dict, list)) or isinstance(change["to"], (dict, list)),
        }
        for change in diff
    ]


def _declared_order(schema: dict[str, Any] | None, names: list[str]) -> list[str]:
    """`names` in the action's argument order: Postgres jsonb does not keep an object's key order,
    `required` is a list and keeps the function's; the rest by name."""
    required = list((schema or {}).get("required") or [])
    return sorted(names, key=lambda n: (required.index(n) if n in required else len(required), n))


# CommonMark with raw HTML off: a `<script>` or `<b>` in a description is text, and links to
# `javascript:` and the like are not made (markdown-it's validateLink). No images: a description
# is the agent's (model output, untrusted), and an image would fetch from wherever it says.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")


def description_html(text: Any) -> SafeString:
    """An interrupt's description (Agent Inbox writes markdown) as HTML that carries no markup of
    the agent's own: every tag in it is one markdown made."""
    if not isinstance(text, str) or not text.strip():
        return mark_safe("")  # noqa: S308 - empty
    return mark_safe(_MARKDOWN.render(text))  # noqa: S308 - raw HTML is off: the agent's text is escaped


def _inbox_queryset(user: Any, filters: InboxFilters) -> QuerySet[ApprovalRequest]:
    now = timezone.now()
    pending = ApprovalRequest.objects.pending()
    requests: QuerySet[ApprovalRequest] = (
        (pending.put_to(user) if filters.asked else pending.visible_to(user))
        # The request's own agent (copied from its run): the run's row (its input, output and
        # state) is not read for a list of requests.
        .select_related("queue", "agent", "requested_by", "claimed_by")
        .order_by(*INBOX_ORDER)
    )
    if filters.queue:
        requests = requests.filter(queue__name=filters.queue)
    if filters.agent:
        # By the agent's id, looked up first: with a constant the planner takes the pending-by-agent
        # index (through a join or a subquery it walked every run of the agent).
        agent_id = Agent.objects.filter(key=filters.agent).values_list("id", flat=True).first()
        requests = requests.filter(agent_id=agent_id) if agent_id is not None else requests.none()
    if filters.age:
        requests = requests.filter(created_at__lte=now - AGES[filters.age])
    if filters.due == "overdue":
        requests = requests.filter(due_at__lt=now)
    elif filters.due == "today":
        requests = requests.filter(due_at__lt=now + timedelta(days=1))
    if filters.condition == "yes":
        requests = requests.exclude(condition="")
    elif filters.condition == "no":
        requests = requests.filter(condition="")
    return requests


def pending_count(user: Any) -> int:
    """The number on the navigation's Approvals badge (`_nav_count.html`): the pending requests
    in the user's queues and those put to them as their runs' requester, each once."""
    pending = ApprovalRequest.objects.pending()
    # The user's questions as a subquery (the requester's index, their rows alone): OR-ed in
    # directly, the queue's setting joined every pending request to its queue (5.5-7 ms against
    # 3.3-3.6 at 10,000 pending in one queue; 4.2 so).
    asked = pending.put_to(user).values("id")
    return (pending.visible_to(user) | pending.filter(id__in=asked)).count()


def asked_count(user: Any, request: HttpRequest | None = None) -> int:
    """The number of pending requests put to the user as their runs' requester ("Asked of you").
    With the page's `request`, read once for it: the inbox's tab and the navigation show it both."""
    cached = getattr(request, "_steward_asked_count", None)
    if cached is None:
        cached = ApprovalRequest.objects.pending().put_to(user).count()
        if request is not None:
            request._steward_asked_count = cached  # type: ignore[attr-defined]
    return int(cached)


def nav_count(user: Any, request: HttpRequest | None = None) -> int:
    """The number on the navigation's Approvals badge, on the page and in the live push: a
    reviewer's pending requests (`pending_count`), anyone else's questions (`asked_count`), as
    their inbox lists them (`filters_for`)."""
    return pending_count(user) if has_role(user, REVIEWERS) else asked_count(user, request)


def may_open_inbox(user: Any) -> bool:
    """Reviewers; and whoever is asked something now (a question their run puts to them)."""
    return has_role(user, REVIEWERS) or ApprovalRequest.objects.pending().put_to(user).exists()


def visible_request(user: Any, approval_id: Any) -> ApprovalRequest | None:
    """The request, with what its pane shows, if `user` may see it (a reviewer of its queue, with
    the reviewers role: a reviewer group alone is not enough, as for the list, `filters_for`; or
    its run's requester when it is put to them); else None (its run is read when the request's
    page asks for it)."""
    reviewed = (
        ApprovalRequest.objects.visible_to(user)
        .select_related("queue", "agent", "requested_by", "decided_by", "claimed_by")
        .filter(id=approval_id)
        .first()
    ) if has_role(user, REVIEWERS) else None
    return reviewed or put_to_requester(approval_id, user)


def put_to_requester(approval_id: Any, user: Any) -> ApprovalRequest | None:
    """The request if `user` started its run and may answer it (`ApprovalRequest.is_put_to`):
    what a requester who reviews none of its queue may see and answer. Else None."""
    if not getattr(user, "pk", None):
        return None
    try:
        approval_id = uuid.UUID(str(approval_id))
    except ValueError:
        return None
    found = (
        ApprovalRequest.objects.select_related("queue", "run__agent", "requested_by", "decided_by", "claimed_by")
        .filter(id=approval_id, requested_by=user.pk, run__isnull=False)
        .first()
    )
    return found if found is not None and found.is_put_to(user) else None


def my_queues(user: Any) -> QuerySet[Queue]:

    queues = Queue.objects.all() if is_admin(user) else Queue.objects.filter(reviewer_groups__user=user).distinct()
    return queues.order_by("name")


def conversation_of(request: ApprovalRequest) -> list[dict[str, str]]:
    """The agent's recent messages, from the last model call before the gate (text only)."""
    if not request.run_id:
        return []
    span = (
        Span.objects.filter(run_id=request.run_id, kind=Span.Kind.MODEL, started_at__lte=request.created_at)
        .order_by("-seq")
        .only("input", "output")
        .first()
    )
    if span is None:
        return []
    messages = list(span.input or []) if isinstance(span.input, list) else []
    if isinstance(span.output, dict):
        messages.append(span.output)
    chat = []
    for message in messages[-12:]:
        if not isinstance(message, dict):
            continue
        text = message.get("content")
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False)
        calls = message.get("tool_calls") or []
        if calls:
            text = (text + "\n" if text else "") + "\n".join(
                f"→ {c.get('name')}({json.dumps(c.get('args'), ensure_ascii=False)})" for c in calls
            )
        chat.append({"role": str(message.get("type", "")), "name": str(message.get("name") or ""), "text": text})
    return chat


def history_of(request: ApprovalRequest) -> list[AuditEvent]:
    """The request's audit events, oldest first. A claim right after the same reviewer's claim
    (reopening the page once re-claimed it) says nothing new: only the first is listed. The audit
    log itself keeps every event."""
    events = (
        AuditEvent.objects.filter(object_type=ApprovalRequest._meta.label_lower, object_id=str(request.id))
        .select_related("actor")
        .order_by("id")
    )
    shown: list[AuditEvent] = []
    for event in events:
        previous = shown[-1] if shown else None
        if (
            previous is not None and event.action == previous.action == "approval.claimed"
            and event.actor_id == previous.actor_id
        ):
            continue
        shown.append(event)
    return shown


def outcome_of(request: ApprovalRequest) -> dict[str, Any]:
    """After a decision: did the run resume, and what did the action return?"""
    if not request.run_id or request.status == ApprovalRequest.Status.PENDING:
        return {}

    run = Run.objects.filter(id=request.run_id).only("id", "status", "error").first()
    result = None
    if request.decided_at:
        tool = (
            Span.objects.filter(
                run_id=request.run_id, kind=Span.Kind.TOOL, name=request.action, status=Span.Status.OK,
                started_at__gte=request.decided_at,
            )
            .order_by("seq")
            .only("output")
            .first()
        )
        if tool is not None:
            output = tool.output
            if isinstance(output, dict) and "content" in output:
                output = output["content"]
            result = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    return {"run": run, "result": result}


def outcome_context(request: ApprovalRequest) -> dict[str, Any]:
    """The context of a request's live parts (`_approval_status.html`, `_approval_outcome.html`)."""
    return {
        "approval": request,
        "approved_args": pretty(shown(request.approved_args)),
        "approved_items": args_items(shown(request.approved_args), request.args_schema),
        "outcome": outcome_of(request),
    }


# --- the edit form, generated from the gate's args_schema -------------------------------------


def undeclared_errors(schema: dict[str, Any], errors: dict[str, str]) -> list[str]:
    """The edit's errors about arguments the schema does not declare (no field of the form shows them)."""
    properties = schema.get("properties") or {}
    return [message for name, message in sorted(errors.items()) if name not in properties]


def edit_fields(schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    required = list(schema.get("required", []))
    properties = schema.get("properties") or {}
    fields = []
    for name in _declared_order(schema, list(properties)):
        prop = properties[name]
        kind = prop.get("type", "string")
        value = values.get(name, "")
        fields.append(
            {
                "name": name,
                "label": prop.get("title", name),
                "kind": kind,
                # A redacted number is shown (and sent back) as its marker: a number input would drop it.
                "input_type": "text" if is_marker(value) else "number" if kind in ("number", "integer")
                else "checkbox" if kind == "boolean" else "text",
                "step": "1" if kind == "integer" else "any",
                "required": name in required,
                "value": json.dumps(value) if kind in ("object", "array") else value,
                "error": errors.get(name, ""),
                "help": _constraints(prop),
            }
        )
    return fields


def _constraints(prop: dict[str, Any]) -> str:
    parts = []
    for key, words in (("exclusiveMinimum", "more than"), ("minimum", "at least"), ("exclusiveMaximum", "less than"), ("maximum", "at most")):
        if key in prop:
            parts.append(f"{words} {prop[key]}")
    if "maxLength" in prop:
        parts.append(f"up to {prop['maxLength']} characters")
    return ", ".join(parts)


def parse_edit(schema: dict[str, Any], post: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Form strings → typed args for the schema; what cannot parse is a field error.

    An `arg_<name>` the schema does not declare is kept as posted, so the schema check refuses
    it by name instead of the edit dropping it without a word.
    """
    properties = schema.get("properties") or {}
    args: dict[str, Any] = {
        key.removeprefix("arg_"): post.get(key)
        for key in post
        if key.startswith("arg_") and key.removeprefix("arg_") not in properties
    }
    errors: dict[str, str] = {}
    for name, prop in properties.items():
        raw = post.get(f"arg_{name}", "")
        kind = prop.get("type", "string")
        if kind == "boolean":
            args[name] = raw in ("on", "true", "1")
            continue
        if raw == "":
            continue
        if is_marker(raw):
            # A redacted value left as shown (a card number in a number field): the service
            # restores the original; anything else fails the schema with a clear message.
            args[name] = raw
            continue
        try:
            if kind == "integer":
                args[name] = int(raw)
            elif kind == "number":
                args[name] = float(raw)
            elif kind in ("object", "array"):
                args[name] = json.loads(raw)
            else:
                args[name] = raw
        except (ValueError, json.JSONDecodeError):
            errors[name] = f"must be {'a whole number' if kind == 'integer' else 'a number' if kind == 'number' else 'JSON'}"
    return args, errors


def shape_context(approval: ApprovalRequest) -> dict[str, Any]:
    """The interrupt's shape for the request page: its actions (args as JSON, redacted), the
    decisions it allows, and whether it takes one decision per action."""
    shape = approval.shape
    return {
        "shape": shape,
        "allowed": shape.allowed,
        "shape_actions": [{**action, "args_json": pretty(shown(action["args"]))} for action in shape.actions],
        "batched": len(shape.actions) > 1,
        "free_form_value": pretty(shown(shape.value)),
        # The answer form: fields generated from the response_schema, and the JSON box.
        "answer_form": answer_form.build(shape.response_schema) if "answer" in shape.allowed else None,
    }
