"""Forms of the agent's console: every input has a size limit, every choice a closed list."""

import uuid
from datetime import date, timedelta

from django import forms
from django.utils import timezone

from support.models import BODY_MAX, TicketCategory, TicketChannel, TicketPriority, TicketStatus

QUERY_MAX = 100


class QueueFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=QUERY_MAX, label="Reference or subject")
    status = forms.ChoiceField(required=False, choices=[("", "Open"), ("all", "Any status"), *TicketStatus.choices])
    channel = forms.ChoiceField(required=False, choices=[("", "Any channel"), *TicketChannel.choices])
    category = forms.ChoiceField(required=False, choices=[("", "Any category"), *TicketCategory.choices])
    site = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[])
    mine = forms.BooleanField(required=False, label="Mine")
    unassigned = forms.BooleanField(required=False, label="Unassigned")
    breaching = forms.BooleanField(required=False, label="Breaching soon")

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", "Any site"), *[(s.pk, s.name) for s in sites]]


class ReplyForm(forms.Form):
    KIND_CHOICES = [("reply", "Public reply to the driver"), ("note", "Internal note")]

    kind = forms.ChoiceField(choices=KIND_CHOICES, initial="reply")
    body = forms.CharField(
        required=False, max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 6, "maxlength": BODY_MAX})
    )
    macro = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[], label="Macro")
    # Without JavaScript, "Insert" puts the macro into the text box to edit before sending.
    insert = forms.BooleanField(required=False)

    def __init__(self, *args, macros=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["macro"].choices = [("", "Insert a macro…"), *[(m.pk, m.name) for m in macros]]

    def clean(self):
        data = super().clean()
        if not data.get("insert") and not (data.get("body") or "").strip():
            self.add_error("body", "Write the message first.")
        return data


class TicketFieldsForm(forms.Form):
    status = forms.ChoiceField(choices=TicketStatus.choices)
    priority = forms.ChoiceField(choices=TicketPriority.choices)
    category = forms.ChoiceField(choices=TicketCategory.choices)
    assignee = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[])
    tags = forms.CharField(required=False, max_length=400, help_text="comma-separated")

    def __init__(self, *args, agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "Nobody"), *[(a.pk, a.get_username()) for a in agents]]


class CommandActionForm(forms.Form):
    KINDS = [("remote_start", "Remote start"), ("remote_stop", "Remote stop"), ("unlock", "Unlock"),
             ("trigger_status", "Trigger a status report")]  # fmt: skip

    kind = forms.ChoiceField(choices=KINDS)
    connector = forms.IntegerField(required=False, min_value=0, max_value=100)
    id_tag = forms.CharField(required=False, max_length=20)
    confirm = forms.BooleanField(required=False)


class RefundForm(forms.Form):
    session = forms.TypedChoiceField(coerce=int, choices=[], label="Session")
    amount = forms.DecimalField(min_value=0, max_digits=10, decimal_places=2)
    reason = forms.CharField(max_length=400)
    key = forms.CharField(max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args, sessions=(), **kwargs):
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.sessions = {s.pk: s for s in sessions}
        self.fields["session"].choices = [
            (s.pk, f"#{s.pk} at {s.station.identity}, {s.payment.amount_captured} {s.payment.currency} paid")
            for s in sessions
        ]


class EscalateForm(forms.Form):
    note = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class DriverSearchForm(forms.Form):
    q = forms.CharField(max_length=QUERY_MAX, label="ID tag, email, phone, transaction id or charger", strip=True)


class ReportPeriodForm(forms.Form):
    MAX_DAYS = 366

    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    agent = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[])

    def __init__(self, *args, agents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].choices = [("", "Every agent"), *[(a.pk, a.get_username()) for a in agents]]

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        end: date = data.get("end") or today
        start: date = data.get("start") or end - timedelta(days=29)
        if start > end:
            self.add_error("start", "The period starts after it ends.")
        elif (end - start).days >= self.MAX_DAYS:
            self.add_error("start", f"A period is at most {self.MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data
