import django_filters

from config.api import ApiFilterSet, MomentFilter
from support.models import Ticket, TicketCategory, TicketChannel, TicketStatus


class TicketFilter(ApiFilterSet):
    station = django_filters.CharFilter(field_name="station__identity", max_length=48)
    channel = django_filters.ChoiceFilter(choices=TicketChannel.choices)
    status = django_filters.ChoiceFilter(choices=TicketStatus.choices)
    category = django_filters.ChoiceFilter(choices=TicketCategory.choices)
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Ticket
        fields = ["station", "channel", "status", "category"]
