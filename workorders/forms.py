from django import forms

from workorders.models import WorkOrder, WorkOrderStatus

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
    resolution_code = forms.CharField(max_length=40, required=False, strip=True)
    note = forms.CharField(max_length=500, required=False)


class FieldworkForm(forms.Form):
    """Checklist, notes, parts and follow-up: what a technician writes down on site."""

    checklist = forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    parts_used = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Parts used")
    follow_up = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Follow-up needed", help_text="left blank: none"
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
    """Accept dispatch's proposal, or pick another of the ranked candidates."""

    technician = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    accept = forms.BooleanField(required=False)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {c.technician.pk: c.technician for c in candidates}
        self.fields["technician"].choices = [("", "the proposal")] + [(pk, str(t)) for pk, t in self.candidates.items()]

    def chosen(self):
        """The technician picked, or None to take the proposal."""
        if self.cleaned_data.get("accept"):
            return None
        pk = self.cleaned_data.get("technician")
        return self.candidates.get(pk) if pk is not None else None
