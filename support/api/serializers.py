from rest_framework import serializers

from stations.models import ChargingStation
from support.models import BODY_MAX, Driver, Ticket, TicketAttachment, TicketCategory, TicketMessage
from support.services import links


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketAttachment
        fields = ["filename", "content_type", "size"]


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(
        source="author.username", read_only=True, allow_null=True, default=None,
        help_text="the agent who wrote it; null for the driver's own words",
    )  # fmt: skip
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = TicketMessage
        fields = ["id", "kind", "channel", "author", "body", "created_at", "attachments"]


class RequesterSerializer(serializers.ModelSerializer):
    # Plain text, not format "email": a driver who gave only a phone number has none ("").
    email = serializers.CharField(read_only=True)

    class Meta:
        model = Driver
        fields = ["name", "email", "phone"]


class TicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True, help_text="what the driver quotes: T-000123")
    station = serializers.CharField(source="station.identity", read_only=True, allow_null=True, default=None)
    connector_id = serializers.IntegerField(
        source="connector.connector_id", read_only=True, allow_null=True, default=None
    )
    requester = RequesterSerializer(read_only=True, allow_null=True)
    messages = MessageSerializer(many=True, read_only=True, help_text="oldest first; internal notes only for agents")

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "subject",
            "channel",
            "category",
            "status",
            "priority",
            "station",
            "connector_id",
            "requester",
            "created_at",
            "updated_at",
            "resolved_at",
            "messages",
        ]
        read_only_fields = fields


class TicketCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000, help_text="what the driver says is wrong")
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    category = serializers.ChoiceField(choices=TicketCategory.choices, default=TicketCategory.OTHER)
    station = serializers.CharField(
        max_length=48, required=False, allow_null=True, default=None, help_text="the charger's identity"
    )
    connector_id = serializers.IntegerField(min_value=1, max_value=64, required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{5,31}$", max_length=32, required=False, allow_blank=True, default=""
    )

    def validate_station(self, value):
        if value in (None, ""):
            return None
        station = ChargingStation.objects.filter(identity=value).first()
        if station is None:
            raise serializers.ValidationError(f"no charger is called {value[:48]!r}")
        return station

    def validate_body(self, value):
        if "\x00" in value:
            raise serializers.ValidationError("the text holds a NUL character")
        return value

    def validate(self, attrs):
        if attrs.get("connector_id") is not None and attrs.get("station") is None:
            raise serializers.ValidationError({"connector_id": ["name the station too"]})
        for field in ("subject", "name", "phone"):
            if "\x00" in attrs.get(field, ""):
                raise serializers.ValidationError({field: ["the text holds a NUL character"]})
        return attrs


# --- The driver's own ticket, without an account ----------------------------------


class DriverMessageSerializer(serializers.ModelSerializer):
    """A message as the driver sees it: who wrote it by kind only, never an agent's account."""

    class Meta:
        model = TicketMessage
        fields = ["id", "kind", "body", "created_at"]
        read_only_fields = fields


class DriverTicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True, help_text="what the driver quotes: T-000123")
    station = serializers.CharField(source="station.identity", read_only=True, allow_null=True, default=None)
    connector_id = serializers.IntegerField(
        source="connector.connector_id", read_only=True, allow_null=True, default=None
    )
    messages = DriverMessageSerializer(
        source="public_messages", many=True, read_only=True,
        help_text="oldest first: the driver's messages and public replies, never internal notes",
    )  # fmt: skip
    follow_token = serializers.SerializerMethodField(help_text="the key to this ticket: nothing else opens it")
    follow_url = serializers.SerializerMethodField(help_text="the same ticket as a web page")

    class Meta:
        model = Ticket
        fields = [
            "reference",
            "status",
            "category",
            "station",
            "connector_id",
            "created_at",
            "messages",
            "follow_token",
            "follow_url",
        ]
        read_only_fields = fields

    def get_follow_token(self, ticket) -> str:
        return links.follow_token(ticket)

    def get_follow_url(self, ticket) -> str:
        return links.follow_url(ticket)


class DriverTicketCreateSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=TicketCategory.choices, default=TicketCategory.OTHER)
    description = serializers.CharField(max_length=BODY_MAX, help_text="what is wrong, in the driver's words")
    station = serializers.CharField(
        max_length=48, required=False, allow_null=True, allow_blank=True, default=None,
        help_text="the charger's identity, as printed on it",
    )  # fmt: skip
    connector_id = serializers.IntegerField(min_value=1, max_value=64, required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.RegexField(
        r"^\+?[0-9 ()./-]{5,31}$", max_length=32, required=False, allow_blank=True, default=""
    )

    validate_station = TicketCreateSerializer.validate_station

    def validate(self, attrs):
        if attrs.get("connector_id") is not None and attrs.get("station") is None:
            raise serializers.ValidationError({"connector_id": ["name the station too"]})
        return attrs


class DriverReplySerializer(serializers.Serializer):
    body = serializers.CharField(max_length=BODY_MAX, help_text="the driver's answer")
