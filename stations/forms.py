import json
from dataclasses import dataclass

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from stations.models import ChargingSession, ChargingStation, ConfigurationKey, Reservation, ReservationStatus
from stations.services import command_catalogue as catalogue
from stations.services.command_catalogue import FieldKind

# Running sessions offered for RemoteStopTransaction: a station has one per connector at most,
# so more than this only happens when stops went missing.
RUNNING_SESSIONS_SHOWN = 20


@dataclass(frozen=True)
class StationChoices:
    """What the station offers the form's fields: its connectors, running sessions,
    open reservations and the configuration keys it last reported."""

    connector_ids: tuple[int, ...]
    sessions: tuple[tuple[int, str], ...]
    reservations: tuple[tuple[int, str], ...]
    config_keys: tuple[str, ...]
    time_zone: str

    @classmethod
    def of(cls, station: ChargingStation, connectors) -> "StationChoices":
        running = (
            ChargingSession.objects.filter(station=station, stop_at__isnull=True)
            .select_related("connector")
            .order_by("-start_at", "-id")[:RUNNING_SESSIONS_SHOWN]
        )
        reservations = Reservation.objects.filter(
            station=station, status__in=[ReservationStatus.REQUESTED, ReservationStatus.ACTIVE]
        ).order_by("-created_at")[:RUNNING_SESSIONS_SHOWN]
        return cls(
            connector_ids=tuple(c.connector_id for c in connectors if c.connector_id),
            sessions=tuple((s.pk, f"{s.pk} on connector {s.connector.connector_id} ({s.id_tag})") for s in running),
            reservations=tuple((r.pk, f"{r.pk} on connector {r.connector_id} for {r.id_tag}") for r in reservations),
            config_keys=tuple(ConfigurationKey.objects.filter(station=station).values_list("key", flat=True)),
            time_zone=station.site.time_zone if station.site_id else "UTC",
        )


class CommandForm(forms.Form):
    """A command from the station page, given one of three ways: a quick button
    (`preset`), the chosen action's fields, or its payload typed as JSON (the
    advanced way, which wins when filled). Every action's fields are in the form,
    named "<action>.<field>", so the page works without its script; only the
    chosen action's are read.

    Whether it may be sent (permission, confirmation, the schema) is
    commands.command_request's to decide, not the form's."""

    # A browser without the page's script shows every action's fields: none may block the others.
    use_required_attribute = False

    action = forms.ChoiceField(choices=[(name, name) for name in catalogue.ACTIONS])
    preset = forms.CharField(required=False, widget=forms.HiddenInput)
    payload = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "{}"}))
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args, choices: StationChoices, actions=catalogue.ACTIONS, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = choices
        self.actions = [a for a in catalogue.ACTIONS if a in set(actions)]
        for name in self.actions:
            for f in catalogue.CATALOGUE[name].fields:
                self.fields[f"{name}.{f.name}"] = self._form_field(name, f)

    def _form_field(self, action: str, f: catalogue.Field) -> forms.Field:
        optional = [] if f.required else [("", "—")]
        attrs = {}
        if (length := catalogue.max_length_for(action, f.name)) is not None:
            attrs["maxlength"] = length
        widget: forms.Widget
        if f.kind == FieldKind.CONNECTOR and self.choices.connector_ids:
            station = [(0, "whole station")] if f.station_wide else []
            connectors = [(n, f"connector {n}") for n in self.choices.connector_ids]
            widget = forms.Select(choices=optional + station + connectors)
        elif f.kind == FieldKind.TRANSACTION and self.choices.sessions:
            widget = forms.Select(choices=list(self.choices.sessions))
        elif f.kind == FieldKind.RESERVATION and self.choices.reservations:
            widget = forms.Select(choices=list(self.choices.reservations))
        elif f.kind == FieldKind.CHOICE:
            widget = forms.Select(choices=optional + [(v, v) for v in catalogue.choices_for(action, f.name)])
        elif f.kind in (FieldKind.CONNECTOR, FieldKind.TRANSACTION, FieldKind.RESERVATION, FieldKind.INTEGER):
            widget = forms.NumberInput(attrs={"step": 1})
        elif f.kind == FieldKind.DATETIME:
            widget = forms.DateTimeInput(attrs={"type": "datetime-local"})
        elif f.kind == FieldKind.URL:
            widget = forms.URLInput()
        elif f.kind == FieldKind.JSON:
            widget = forms.Textarea(attrs={"rows": 3})
        elif f.kind == FieldKind.CONFIG_KEY and self.choices.config_keys:
            widget = forms.TextInput(attrs={"list": "command-config-keys"})
        else:
            widget = forms.TextInput()
        widget.attrs.update(attrs)
        help_text = f.help
        if f.kind == FieldKind.TRANSACTION and not self.choices.sessions:
            help_text = "no session is running on this station"
        return forms.CharField(label=f.label, required=False, widget=widget, help_text=help_text, strip=True)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if not action:
            return data
        if data.get("preset"):
            quick = catalogue.quick_command(data["preset"], connector_ids=self.choices.connector_ids)
            if quick is None or quick.action != action:
                self.add_error("preset", f"there is no quick command {data['preset']!r} for {action}")
            else:
                data["command_payload"] = quick.payload
        elif data.get("payload"):
            try:
                value = json.loads(data["payload"])
            except ValueError as exc:
                self.add_error("payload", f"payload is not valid JSON: {exc}")
            else:
                if isinstance(value, dict):
                    data["command_payload"] = value
                else:
                    self.add_error("payload", "payload must be a JSON object")
        elif action in self.actions:
            values = {f.name: data.get(f"{action}.{f.name}") for f in catalogue.CATALOGUE[action].fields}
            try:
                data["command_payload"] = catalogue.payload_from_fields(
                    action, values, time_zone=self.choices.time_zone
                )
            except catalogue.FieldInvalid as exc:
                self.add_error(f"{action}.{exc.name}", str(exc))
        else:
            data["command_payload"] = {}
        return data

    @property
    def chosen_action(self) -> str:
        value = self["action"].value()
        return value if value in self.actions else (self.actions[0] if self.actions else "")

    @property
    def shown_payload(self) -> str:
        """The JSON to show in the payload box: what was typed, or the quick button's payload
        (so a refused quick command can be confirmed and sent again from the form)."""
        typed = self["payload"].value() or ""
        if typed or not self.is_bound or not self.data.get("preset"):
            return typed
        quick = catalogue.quick_command(self.data["preset"], connector_ids=self.choices.connector_ids)
        return json.dumps(quick.payload) if quick else ""

    def problems(self) -> list[str]:
        """Why the command was not sent, except what is shown beside one of the action's fields."""
        general = (NON_FIELD_ERRORS, "action", "preset", "payload", "confirm")
        found = [message for name in general for message in self.errors.get(name, [])]
        return found or (["Correct the fields marked below."] if self.errors else [])

    def action_groups(self) -> list[tuple[catalogue.Action, list]]:
        """Each offered action with its bound fields, in catalogue order."""
        return [
            (catalogue.CATALOGUE[name], [self[f"{name}.{f.name}"] for f in catalogue.CATALOGUE[name].fields])
            for name in self.actions
        ]
