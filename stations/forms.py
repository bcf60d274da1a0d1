import json

from django import forms

from stations.services.commands import ACTIONS


class CommandForm(forms.Form):
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    payload = forms.CharField(required=False, widget=forms.Textarea, help_text="JSON object")
    confirm = forms.BooleanField(required=False)

    def clean_payload(self) -> dict:
        raw = self.cleaned_data["payload"].strip() or "{}"
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"payload is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("payload must be a JSON object")
        return value
