from rest_framework import serializers

from stations.models import ChargingSession, ChargingStation, Connector, FrameLog


class ConnectorSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", read_only=True)

    class Meta:
        model = Connector
        fields = ["id", "station", "connector_id", "status", "error_code", "vendor_error_code", "info", "status_since"]


class StationConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["connector_id", "status", "error_code", "vendor_error_code", "info", "status_since"]


class StationSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.name", read_only=True, default=None)
    connectors = StationConnectorSerializer(many=True, read_only=True)

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
        ]


class SessionSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="pk", read_only=True)
    station = serializers.CharField(source="station.identity", read_only=True)
    connector_id = serializers.IntegerField(source="connector.connector_id", read_only=True)

    class Meta:
        model = ChargingSession
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
        ]


class FrameSerializer(serializers.ModelSerializer):
    station = serializers.CharField(source="station.identity", read_only=True, default=None)

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
            "raw",
            "created_at",
        ]
