from decimal import Decimal

from rest_framework import serializers

from billing.models import Account, AccountTag, Payment, Tariff
from billing.services.tariffs import TERM_FIELDS, assignment_target

RATE = {"max_digits": 12, "decimal_places": 5, "min_value": Decimal(0), "max_value": Decimal(10_000)}
MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": Decimal(0), "max_value": Decimal(1_000_000)}


class OptionalEmailField(serializers.EmailField):
    """An email address or nothing: shown as null when absent, because an empty
    string is not an email address in the published schema."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_blank=True, allow_null=True, max_length=254, **kwargs)

    def to_internal_value(self, data):
        return "" if data in (None, "") else super().to_internal_value(data)

    def to_representation(self, value):
        return value or None


class AccountSerializer(serializers.ModelSerializer):
    email = OptionalEmailField()

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "status_reason",
            "funding",
            "currency",
            "email",
            "balance",
            "credit_limit",
            "allow_concurrent_sessions",
            "created_at",
        ]
        read_only_fields = ["status", "status_reason", "balance", "created_at"]
        # The database refuses a negative credit limit: say so before it has to.
        extra_kwargs = {"credit_limit": {"min_value": Decimal(0), "max_value": Decimal(1_000_000)}}

    def validate_currency(self, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise serializers.ValidationError("a three-letter currency code")
        return value.upper()


class AccountStatusSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class TagSerializer(serializers.ModelSerializer):
    id_tag = serializers.CharField(source="id_tag.id_tag", max_length=20)
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all())
    status = serializers.CharField(source="id_tag.status", read_only=True)

    class Meta:
        model = AccountTag
        fields = ["id", "id_tag", "account", "label", "status"]


class PeriodSerializer(serializers.Serializer):
    days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), min_length=1, max_length=7, required=False
    )
    start = serializers.TimeField(format="%H:%M")
    end = serializers.TimeField(format="%H:%M")
    price_per_kwh = serializers.DecimalField(**RATE, required=False, allow_null=True)
    price_per_minute = serializers.DecimalField(**RATE, required=False, allow_null=True)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        period = {
            "days": sorted(set(value.get("days", range(7)))),
            "start": f"{value['start']:%H:%M}",
            "end": f"{value['end']:%H:%M}",
        }
        for name in ("price_per_kwh", "price_per_minute"):
            if value.get(name) is not None:
                period[name] = str(value[name])
        return period


class TariffTermsSerializer(serializers.Serializer):
    """The terms of a tariff version: what POST creates, and revise changes (what is left out stays)."""

    price_per_kwh = serializers.DecimalField(**RATE, required=False)
    price_per_minute = serializers.DecimalField(**RATE, required=False)
    idle_price_per_minute = serializers.DecimalField(**RATE, required=False)
    idle_grace_minutes = serializers.IntegerField(min_value=0, max_value=24 * 60, required=False)
    session_fee = serializers.DecimalField(**MONEY, required=False)
    minimum_price = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    maximum_price = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    tax_rate = serializers.DecimalField(
        max_digits=6, decimal_places=4, min_value=Decimal(0), max_value=Decimal("0.9999"), required=False
    )
    preauth_amount = serializers.DecimalField(**MONEY, required=False)
    periods = PeriodSerializer(many=True, required=False, max_length=50)


class TariffCreateSerializer(TariffTermsSerializer):
    name = serializers.CharField(max_length=100, required=False, help_text="defaults to one made from the stations")
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", max_length=3)
    is_default = serializers.BooleanField(required=False, default=False)
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)
    stations = serializers.ListField(
        child=serializers.CharField(max_length=48), required=False, max_length=2000, help_text="station identities"
    )
    sites = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=2000, help_text="site names"
    )
    connectors = serializers.ListField(
        child=serializers.RegexField(r"^.+/\d+$", max_length=60), required=False, max_length=2000,
        help_text="IDENTITY/connector number",
    )  # fmt: skip

    def validate(self, data):
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            raise serializers.ValidationError({"valid_until": "must be after valid_from"})
        return data


class TariffSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="current_version.version", read_only=True, allow_null=True, default=None)
    price_per_kwh = serializers.DecimalField(source="current_version.price_per_kwh", **RATE, read_only=True)
    price_per_minute = serializers.DecimalField(source="current_version.price_per_minute", **RATE, read_only=True)
    idle_price_per_minute = serializers.DecimalField(
        source="current_version.idle_price_per_minute", **RATE, read_only=True
    )
    idle_grace_minutes = serializers.IntegerField(source="current_version.idle_grace_minutes", read_only=True)
    session_fee = serializers.DecimalField(source="current_version.session_fee", **MONEY, read_only=True)
    minimum_price = serializers.DecimalField(
        source="current_version.minimum_price", **MONEY, read_only=True, allow_null=True
    )
    maximum_price = serializers.DecimalField(
        source="current_version.maximum_price", **MONEY, read_only=True, allow_null=True
    )
    tax_rate = serializers.DecimalField(
        source="current_version.tax_rate", max_digits=6, decimal_places=4, read_only=True
    )
    preauth_amount = serializers.DecimalField(source="current_version.preauth_amount", **MONEY, read_only=True)
    periods = PeriodSerializer(source="current_version.periods", many=True, read_only=True)
    stations = serializers.SerializerMethodField()
    sites = serializers.SerializerMethodField()
    connectors = serializers.SerializerMethodField()

    class Meta:
        model = Tariff
        fields = [
            "id",
            "name",
            "currency",
            "is_default",
            "valid_from",
            "valid_until",
            "version",
            *[name for name in TERM_FIELDS],
            "stations",
            "sites",
            "connectors",
        ]

    def _places(self, tariff, target: str) -> list:
        return [a for a in tariff.assignments.all() if assignment_target(a) == target]

    def get_stations(self, tariff) -> list[str]:
        return [a.station.identity for a in self._places(tariff, "station")]

    def get_sites(self, tariff) -> list[str]:
        return [a.site.name for a in self._places(tariff, "site")]

    def get_connectors(self, tariff) -> list[str]:
        return [f"{a.connector.station.identity}/{a.connector.connector_id}" for a in self._places(tariff, "connector")]


class PaymentSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    transaction_id = serializers.IntegerField(source="session_id", read_only=True, allow_null=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "account",
            "account_name",
            "transaction_id",
            "gateway",
            "status",
            "currency",
            "amount_authorised",
            "amount_captured",
            "amount_refunded",
            "capture_attempts",
            "last_error",
            "created_at",
            "updated_at",
        ]


class PriceLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=3)
    unit = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=5)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class CdrSerializer(serializers.Serializer):
    """A charge detail record of one finished session."""

    transaction_id = serializers.IntegerField()
    station = serializers.CharField()
    connector_id = serializers.IntegerField(help_text="the port")
    id_tag = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    energy_kwh = serializers.DecimalField(max_digits=14, decimal_places=3)
    peak_kw = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True,
        help_text="from Power.Active.Import readings, else the steepest rise of the energy register",
    )  # fmt: skip
    currency = serializers.CharField()
    lines = PriceLineSerializer(many=True, help_text="empty unless the session was priced")
    net = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    tax = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    payment_method = serializers.CharField(help_text="card brand and last digits, or the account's funding")
    error = serializers.CharField(help_text="a stop reason other than Local, Remote or EVDisconnected, or NoEnergy")
