"""Forms of the queue management pages: a queue's rules, and a queue's outgoing webhooks.

Validation lives here rather than on the models so the pages can put each message next to its
field; the Django admin and the services keep accepting what the models allow, except a webhook
URL to an internal address, which the admin's webhook form refuses too (`check_webhook_url`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import transaction

from approvals.models import Queue, Webhook
from console.kernel import audit, outbound

__all__ = ["QueueForm", "ReasonCodesField", "WebhookAdminForm", "WebhookForm", "audit_values", "check_webhook_url"]

# Decision.reason_code holds at most this many characters.
REASON_CODE_MAX = 100


class ReasonCodesField(forms.Field):
    """A list of reason codes typed as one comma-separated line ("policy, incorrect, other").

    The model stores a JSON list; people edit a line of text. Empty input is an empty list (a
    rejection then has no code to pick); otherwise every code must be a slug, and no code may
    appear twice (compared case-insensitively, since "Policy" and "policy" would split a chart).
    """

    widget = forms.TextInput

    def prepare_value(self, value: Any) -> Any:
        # A list from the model becomes the line people edit; typed text (a bound form shown
        # again after an error) is kept exactly as it was typed.
        if isinstance(value, (list, tuple)):
            return ", ".join(str(code) for code in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        if isinstance(value, (list, tuple)):
            return [str(code).strip() for code in value]
        if not str(value).strip():
            return []
        return [code.strip() for code in str(value).split(",")]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        seen: set[str] = set()
        for position, code in enumerate(value, start=1):
            if not code:
                raise ValidationError(
                    f"Reason code {position} is empty: remove the extra comma.", code="empty"
                )
            if len(code) > REASON_CODE_MAX:
                raise ValidationError(
                    f"“{code[:20]}…” is longer than {REASON_CODE_MAX} characters.", code="too_long"
                )
            try:
                validate_slug(code)
            except ValidationError:
                raise ValidationError(
                    f"“{code}” is not a valid code: use letters, digits, hyphens and underscores only.",
                    code="invalid_slug",
                ) from None
            if code.lower() in seen:
                raise ValidationError(f"“{code}” appears more than once.", code="duplicate")
            seen.add(code.lower())


class KeptWhenMissingChoiceField(forms.ChoiceField):
    """A choice that a submission without it leaves as it was (nor counts as a change)."""

    def has_changed(self, initial: Any, data: Any) -> bool:
        return data not in self.empty_values and super().has_changed(initial, data)


class QueueForm(forms.ModelForm):
    """A queue's rules: who reviews, how many approvals, how long, and what happens after."""

    reviewer_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Members of these groups review this queue's requests.",
    )
    excluded_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Separation of duties: members of these groups may not decide here, even as reviewers.",
    )
    # The model allows 0 for these; a queue that needs no approval, an SLA of no time or a claim
    # that holds for no time would each be a misconfiguration, so the page asks for at least 1.
    required_approvals = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=1,
        help_text="Approvals from different reviewers; any rejection ends it.",
    )
    sla_minutes = forms.IntegerField(
        min_value=1,
        max_value=525_600,
        initial=24 * 60,
        label="SLA (minutes)",
        help_text="A request is due this long after it arrives (1440 = one day).",
    )
    claim_minutes = forms.IntegerField(
        min_value=1,
        max_value=10_080,
        initial=15,
        label="Claim (minutes)",
        help_text="How long a reviewer's claim holds a request for them.",
    )
    # Not required: a form posted without it (a script, an older page) keeps the queue's setting.
    requester_may_answer = KeptWhenMissingChoiceField(
        choices=Queue.RequesterMayAnswer.choices,
        required=False,
        initial=Queue.RequesterMayAnswer.DEFAULT,
        label="The run's requester may answer",
        help_text="Whether the person who started a run may answer its requests here themselves. By default only "
        "questions (a free-form answer, a request that takes only a response); approving or editing an action "
        "always needs a reviewer other than the requester (four-eyes).",
    )
    reason_codes = ReasonCodesField(
        required=False,
        label="Reason codes",
        help_text="Comma separated, e.g. policy, incorrect, other. Reviewers pick one when they reject.",
    )

    class Meta:
        model = Queue
        fields = [
            "name",
            "description",
            "reviewer_groups",
            "excluded_groups",
            "requester_may_answer",
            "required_approvals",
            "sla_minutes",
            "claim_minutes",
            "reason_codes",
            "timeout_action",
            "escalation_queue",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {
            "timeout_action": "What happens to a request still pending when it is due.",
            "escalation_queue": "Where overdue requests go when the timeout action is to escalate.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        escalation = self.fields["escalation_queue"]
        assert isinstance(escalation, forms.ModelChoiceField)
        escalation.queryset = Queue.objects.order_by("name")
        name_help = "Letters, digits, hyphens and underscores; agents name the queue by it."
        if self.instance.pk:
            # A queue cannot escalate to itself: it is not even offered.
            escalation.queryset = escalation.queryset.exclude(pk=self.instance.pk)
            # Agents name their queue in code: a rename sends their next requests to a new queue.
            name_help = "Agents refer to the queue by this name: renaming it sends their next requests to a new queue."
        self.fields["name"].help_text = name_help

    def clean_requester_may_answer(self) -> str:
        value = str(self.cleaned_data.get("requester_may_answer") or "")
        return value or self.instance.requester_may_answer or Queue.RequesterMayAnswer.DEFAULT

    def clean_escalation_queue(self) -> Queue | None:
        target: Queue | None = self.cleaned_data.get("escalation_queue")
        if target is None or not self.instance.pk:
            return target
        if target.pk == self.instance.pk:
            raise ValidationError("A queue cannot escalate to itself.", code="self")
        # Follow the chain: a loop would move an overdue request round it for ever, one SLA
        # period at a time, instead of ever settling it.
        seen: set[int] = set()
        current: Queue | None = target
        while current is not None and current.pk not in seen:
            if current.escalation_queue_id == self.instance.pk:
                raise ValidationError(
                    f"Escalating to {target.name} would lead back to this queue (a loop).", code="loop"
                )
            seen.add(current.pk)
            current = current.escalation_queue
        return target

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        action = cleaned.get("timeout_action")
        if (
            action == Queue.TimeoutAction.ESCALATE
            and not cleaned.get("escalation_queue")
            and "escalation_queue" not in self.errors
        ):
            # Next to the field that is missing, not at the top of the form.
            self.add_error("escalation_queue", "Escalating needs an escalation queue: choose one.")
        return cleaned


def check_webhook_url(url: str) -> str:
    """`url` if Steward may send to it; a form error naming why not (and the setting) otherwise.

    A host that does not resolve now is accepted: it may resolve later, or only where the
    workers run. Every delivery checks the URL again before it connects.
    """
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        raise ValidationError(f"Refused: {exc}.", code="outbound_refused") from exc
    except outbound.HostNotFound:
        pass
    return url


class WebhookAdminForm(forms.ModelForm):
    """The Django admin's webhook form: the model's fields, and the same URL check as the pages."""

    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")

    class Meta:
        model = Webhook
        fields = ["name", "url", "secret", "queue", "events", "format", "is_active", "created_at"]

    def clean_url(self) -> str:
        return check_webhook_url(self.cleaned_data["url"])


class WebhookForm(forms.ModelForm):
    """A queue's outgoing webhook. The secret is not a field: it is generated, and only rotated."""

    url = forms.URLField(
        max_length=500,
        label="URL",
        # Django's URLField also takes ftp://; a webhook is an HTTP POST, so only http(s) is valid.
        validators=[URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")],
        # A URL typed without a scheme is taken as https:// (Django 6's default, asked for now).
        assume_scheme="https",
        help_text="http:// or https:// only, on a public address. Steward POSTs each event here.",
    )
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in Webhook.EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "format", "is_active"]
        labels = {"is_active": "Active"}
        help_texts = {"format": "json: signed with the secret (X-Steward-Signature); slack: a Slack message."}

    def clean_url(self) -> str:
        return check_webhook_url(self.cleaned_data["url"])

    def create_for(self, queue: Queue, user: Any) -> Webhook:
        """Save the valid form as a new webhook of `queue`, audited in the same transaction."""
        with transaction.atomic():
            webhook = self.save(commit=False)
            webhook.queue = queue
            webhook.save()
            audit.record(user, "webhook.created", webhook, queue=queue.name, changed=list(self.fields))
        return webhook

    def save_changes(self, user: Any) -> bool:
        """Save the valid form's changes to its webhook, audited in the same transaction.

        Returns:
            False, saving nothing, when nothing changed.
        """
        if not self.changed_data:
            return False
        with transaction.atomic():
            self.save()
            # Field names only: a webhook URL can be a secret itself (Slack's are).
            audit.record(user, "webhook.updated", self.instance, changed=self.changed_data)
        return True


def audit_values(form: forms.ModelForm, fields: list[str]) -> dict[str, Any]:
    """The new values of `fields` as plain JSON for the audit log: groups and queues by name.

    Args:
        form: a valid, saved form.
        fields: the names to include. Not for webhooks: a webhook URL can itself be a secret
            (a Slack incoming-webhook URL is), so webhook changes are audited by field name only.

    Returns:
        `{field: value}` with model instances replaced by their names.
    """
    values: dict[str, Any] = {}
    for field in fields:
        value: Any = form.cleaned_data.get(field)
        if hasattr(value, "model"):  # a queryset: the ticked groups
            value = sorted(str(item) for item in value)
        elif hasattr(value, "pk"):  # a model instance: the escalation queue
            value = str(value)
        values[field] = value
    return values
