from django import forms

from workorders.models import IncidentResolution, Priority, WorkOrder, WorkOrderKind, WorkOrderStatus
from workorders.services import incident_lifecycle, lifecycle

S = WorkOrderStatus
# What the status buttons say, in the words of the person in the field.
MOVE_LABELS = {
    S.EN_ROUTE: "On my way",
    S.ON_SITE: "Arrived: start on-site time",
    S.ON_HOLD: "On hold for parts",
    S.RESOLVED: "Resolve: stop on-site time",
    S.CANCELLED: "Cancel the order",
    S.CLOSED: "Close",
}
# Offered as suggestions; any short code is accepted.
RESOLUTION_SUGGESTIONS = [
    "reset-on-site",
    "replaced-cable",
    "replaced-connector",
    "replaced-power-module",
    "replaced-rcd",
    "replaced-rfid-reader",
    "replaced-meter",
    "replaced-relay",
    "replaced-fan",
    "firmware-updated",
    "configuration-fixed",
    "network-fixed",
    "grid-supply-restored",
    "no-fault-found",
]


class StatusMoveForm(forms.Form):
    to = forms.ChoiceField(choices=S.choices)
    resolution_code = forms.CharField(max_length=lifecycle.MAX_RESOLUTION_CODE, required=False, strip=True)
    note = forms.CharField(max_length=500, required=False)


class FieldworkForm(forms.Form):
    """Checklist, notes, parts and follow-up: what a technician writes down on site."""

    checklist = forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    notes = forms.CharField(required=False, max_length=lifecycle.MAX_NOTES, widget=forms.Textarea(attrs={"rows": 4}))
    parts_used = forms.CharField(
        required=False, max_length=lifecycle.MAX_PARTS, widget=forms.Textarea(attrs={"rows": 2}), label="Parts used"
    )
    follow_up = forms.CharField(
        required=False,
        max_length=lifecycle.MAX_FOLLOW_UP,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Follow-up needed",
        help_text="left blank: none",
    )

    def __init__(self, *args, work_order: WorkOrder, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "checklist": [i for i, item in enumerate(work_order.checklist) if item.get("done")],
                "notes": work_order.notes,
                "parts_used": work_order.parts_used,
                "follow_up": work_order.follow_up,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["checklist"].choices = [(i, item["item"]) for i, item in enumerate(work_order.checklist)]


class PhotoForm(forms.Form):
    photo = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )


class OnsiteCommandForm(forms.Form):
    command = forms.CharField(max_length=40)
    confirm = forms.BooleanField(required=False)


class DispatchForm(forms.Form):
    """Accept dispatch's proposal, or pick another of the ranked candidates; no
    choice at all is refused rather than read as the proposal."""

    technician = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    accept = forms.BooleanField(required=False)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {c.technician.pk: c.technician for c in candidates}
        self.fields["technician"].choices = [(pk, str(t)) for pk, t in self.candidates.items()]

    def clean(self):
        data = super().clean()
        if not data.get("accept") and data.get("technician") is None and "technician" not in self.errors:
            self.add_error("technician", "Choose a technician, or accept the proposal.")
        return data

    def chosen(self):
        """The technician picked, or None to take the proposal."""
        if self.cleaned_data.get("accept"):
            return None
        return self.candidates[self.cleaned_data["technician"]]


class IncidentNoteForm(forms.Form):
    text = forms.CharField(
        label="Note", max_length=incident_lifecycle.MAX_NOTE, widget=forms.Textarea(attrs={"rows": 3})
    )


class IncidentCloseForm(forms.Form):
    resolution = forms.ChoiceField(label="How it ended", choices=IncidentResolution.choices)
    reason = forms.CharField(
        label="Why", max_length=incident_lifecycle.MAX_REASON, help_text="for whoever reads it later"
    )


class IncidentDispatchForm(forms.Form):
    reason = forms.CharField(
        label="Why",
        max_length=incident_lifecycle.MAX_REASON,
        required=False,
        help_text="left blank: “sent by a dispatcher”",
    )


class WorkOrderCreateForm(forms.Form):
    """A work order for a station (and its incident, when it comes from one)."""

    kind = forms.ChoiceField(choices=WorkOrderKind.choices, initial=WorkOrderKind.CORRECTIVE)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.P2)
    title = forms.CharField(max_length=lifecycle.MAX_TITLE)
    connector = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Connector")
    dispatch_now = forms.BooleanField(required=False, initial=True, label="Dispatch it now to the best technician")

    def __init__(self, *args, connectors, **kwargs):
        super().__init__(*args, **kwargs)
        self.connectors = {c.pk: c for c in connectors}
        self.fields["connector"].choices = [("", "the whole station")] + [
            (c.pk, f"connector {c.connector_id}") for c in connectors if c.connector_id
        ]
