from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stations.models import ChargingSession, ChargingStation, Connector, FrameLog, RemoteCommand
from stations.selectors import FRAME_PREVIEW_CHARS
from stations.services import session_extras, station_links
from stations.services.commands import ACTIONS, DEFAULT_TIMEOUT_S


class ConnectorSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", read_only=True)

    class Meta:
        model = Connector
        fields = ["id", "station", "connector_id", "status", "error_code", "vendor_error_code", "info", "status_since"]


class StationConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["connector_id", "status", "error_code", "vendor_error_code", "info", "status_since"]


class _StationListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        # Public addresses of the whole page in one call to the registry, not a call per row.
        stations = list(data.all() if hasattr(data, "all") else data)
        self.context["public_urls"] = station_links.public_urls(stations, self.context.get("request"))
        return super().to_representation(stations)


class StationSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.name", read_only=True, allow_null=True, default=None)
    connectors = StationConnectorSerializer(many=True, read_only=True)
    public_url = serializers.SerializerMethodField(help_text="the charger's public page (its QR code), or null")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_public_url(self, station) -> str | None:
        known = self.context.get("public_urls")
        if known is None or station.pk not in known:
            known = station_links.public_urls([station], self.context.get("request"))
        return known.get(station.pk)

    class Meta:
        model = ChargingStation
        fields = [
            "id",
            "identity",
            "site",
            "vendor",
            "model",
            "serial_number",
            "firmware_version",
            "protocol",
            "registration_status",
            "heartbeat_interval",
            "last_boot_at",
            "last_message_at",
            "connected",
            "offline",
            "connectors",
            "public_url",
        ]
        list_serializer_class = _StationListSerializer


class _SessionMoneySerializer(serializers.Serializer):
    currency = serializers.CharField()
    lines = serializers.ListField(child=serializers.DictField())
    net = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)


class _SessionListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        # Prices of the whole page in one call to the registry, not a call per row.
        sessions = list(data.all() if hasattr(data, "all") else data)
        self.context["session_extras"] = session_extras.session_extras(sessions)
        return super().to_representation(sessions)


class SessionSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="pk", read_only=True)
    station = serializers.CharField(source="station.identity", read_only=True)
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True)
    price = serializers.SerializerMethodField(help_text="the final price once the session is priced, else null")
    cost_so_far = serializers.SerializerMethodField(help_text="while the session runs: its cost until now, else null")

    class Meta:
        model = ChargingSession
        list_serializer_class = _SessionListSerializer
        fields = [
            "transaction_id",
            "station",
            "connector_id",
            "id_tag",
            "id_tag_status",
            "stop_id_tag",
            "meter_start",
            "meter_stop",
            "start_at",
            "stop_at",
            "stop_reason",
            "energy_wh",
            "meter_flags",
            "price",
            "cost_so_far",
        ]

    def _extras(self, session) -> dict:
        extras = self.context.get("session_extras")
        if extras is None or session.pk not in extras:
            extras = session_extras.session_extras([session])
        return extras[session.pk]

    @extend_schema_field(_SessionMoneySerializer(allow_null=True))
    def get_price(self, session) -> dict | None:
        return self._extras(session)["price"]

    @extend_schema_field(_SessionMoneySerializer(allow_null=True))
    def get_cost_so_far(self, session) -> dict | None:
        return self._extras(session)["cost_so_far"]


class FrameSerializer(serializers.ModelSerializer):
    """A frame in a list: the start of its payload and its full length, never the whole of it."""

    station = serializers.CharField(source="station.identity", read_only=True, allow_null=True, default=None)
    preview = serializers.CharField(
        source="raw_preview", read_only=True, help_text=f"the first {FRAME_PREVIEW_CHARS} characters of the frame"
    )
    length = serializers.IntegerField(source="raw_length", read_only=True, help_text="characters in the whole frame")
    truncated = serializers.SerializerMethodField(help_text="the preview is shorter than the frame")

    class Meta:
        model = FrameLog
        fields = [
            "id",
            "station",
            "direction",
            "message_type",
            "action",
            "unique_id",
            "error_code",
            "preview",
            "length",
            "truncated",
            "created_at",
        ]

    def get_truncated(self, frame) -> bool:
        return frame.raw_length > len(frame.raw_preview)


class FrameDetailSerializer(serializers.ModelSerializer):
    """One frame, whole, exactly as it crossed the wire."""

    station = serializers.CharField(source="station.identity", read_only=True, allow_null=True, default=None)
    length = serializers.IntegerField(source="raw_length", read_only=True, help_text="characters in the frame")

    class Meta:
        model = FrameLog
        fields = [
            "id",
            "station",
            "direction",
            "message_type",
            "action",
            "unique_id",
            "error_code",
            "length",
            "raw",
            "created_at",
        ]


class CommandSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = RemoteCommand
        fields = [
            "id",
            "station",
            "action",
            "payload",
            "status",
            "response",
            "error_code",
            "error_description",
            "requested_by",
            "requested_via",
            "timeout_s",
            "created_at",
            "sent_at",
            "completed_at",
        ]


class CommandRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTIONS)
    payload = serializers.DictField(required=False, default=dict)
    wait = serializers.BooleanField(required=False, default=True, help_text="wait for the outcome")
    timeout = serializers.FloatField(required=False, default=DEFAULT_TIMEOUT_S, min_value=1, max_value=120)
    confirm = serializers.BooleanField(
        required=False, default=False, help_text="required for commands that interrupt the station"
    )
