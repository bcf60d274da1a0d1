import django_filters

from billing.models import Account, AccountTag, Payment, PaymentStatus, Tariff
from config.api import ApiFilterSet, MomentFilter
from stations.models import ChargingSession


class AccountFilter(ApiFilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=200)
    id_tag = django_filters.CharFilter(field_name="tags__id_tag__id_tag", max_length=20, distinct=True)

    class Meta:
        model = Account
        fields = ["name", "kind", "status", "funding", "id_tag"]


class TagFilter(ApiFilterSet):
    id_tag = django_filters.CharFilter(field_name="id_tag__id_tag", max_length=20)

    class Meta:
        model = AccountTag
        fields = ["account", "id_tag"]


class TariffFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="assignments__station__identity", max_length=48, distinct=True)

    class Meta:
        model = Tariff
        fields = ["currency", "is_default", "station"]


class PaymentFilter(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices)
    station = django_filters.CharFilter(field_name="session__station__identity", max_length=48)
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Payment
        fields = ["account", "status", "gateway", "station", "created_after", "created_before"]


class CdrFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity", max_length=48, help_text="station identity")
    account = django_filters.NumberFilter(field_name="billing__account_id", min_value=1, max_value=2**62)
    stopped_after = MomentFilter(field_name="stop_at", lookup_expr="gte")
    stopped_before = MomentFilter(field_name="stop_at", lookup_expr="lt")

    class Meta:
        model = ChargingSession
        fields = ["station", "account", "stopped_after", "stopped_before"]
