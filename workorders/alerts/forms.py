"""Forms of the alerts pages: rules and endpoints, checked before a service sees them."""

from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.validators import validate_email

from .models import AlertEndpoint, AlertKind, AlertRule, ChannelKind


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def rule_problems(data: dict) -> dict[str, str]:
    """What a rule of its kind is missing; the portal form and the API both ask here."""
    problems = {}
    kind = data.get("kind")
    if kind == AlertKind.ERROR_CODE and not data.get("error_codes"):
        problems["error_codes"] = "Name at least one code."
    if kind in (AlertKind.UPTIME_BELOW, AlertKind.SESSION_FAILURES):
        threshold = data.get("threshold_percent")
        if threshold is None:
            problems["threshold_percent"] = "Give the percentage."
        elif not 0 <= threshold <= 100:
            problems["threshold_percent"] = "A percentage is between 0 and 100."
    if kind == AlertKind.UPTIME_BELOW and not data.get("window_days"):
        problems["window_days"] = "Give the window in days."
    if kind == AlertKind.SESSION_FAILURES and not data.get("window_hours"):
        problems["window_hours"] = "Give the window in hours."
    if bool(data.get("quiet_start")) != bool(data.get("quiet_end")):
        problems["quiet_end"] = "Quiet hours need a start and an end."
    zone = data.get("quiet_time_zone") or ""
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems["quiet_time_zone"] = f"{zone[:64]!r} is not a time zone (e.g. Europe/Amsterdam)"
    return problems


def endpoint_problems(data: dict) -> dict[str, str]:
    problems = {}
    kind, target = data.get("kind"), data.get("target") or ""
    if kind == ChannelKind.EMAIL:
        try:
            validate_email(target)
        except forms.ValidationError:
            problems["target"] = "An email address, please."
    elif kind == ChannelKind.WEBHOOK:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems["target"] = "An http(s) URL, please."
    elif kind == ChannelKind.SMS:
        if not (target.startswith("+") and target[1:].isdigit() and 8 <= len(target) <= 16):
            problems["target"] = "A phone number in E.164 form, e.g. +31612345678."
    if data.get("secret_env") and kind != ChannelKind.WEBHOOK:
        problems["secret_env"] = "Only webhooks sign with a secret."  # noqa: S105 (a message, not a secret)
    return problems


class ListField(forms.CharField):
    """A list typed as comma-separated text."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return _split(super().to_python(value))


class AlertRuleForm(forms.ModelForm):
    error_codes = ListField(required=False, help_text="errorCode or vendorErrorCode values, comma-separated")
    station_identities = ListField(required=False, help_text="charge point identities, comma-separated")

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "kind",
            "enabled",
            "severity",
            "delay_minutes",
            "error_codes",
            "threshold_percent",
            "window_days",
            "window_hours",
            "min_sessions",
            "sites",
            "station_models",
            "station_identities",
            "quiet_start",
            "quiet_end",
            "quiet_time_zone",
            "users",
            "endpoints",
        ]
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def clean(self):
        data = super().clean()
        for name, message in rule_problems(data).items():
            self.add_error(name, message)
        return data

    def service_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class AlertEndpointForm(forms.ModelForm):
    class Meta:
        model = AlertEndpoint
        fields = ["name", "kind", "target", "secret_env"]

    def clean(self):
        data = super().clean()
        data["target"] = (data.get("target") or "").strip()
        for name, message in endpoint_problems(data).items():
            self.add_error(name, message)
        return data
