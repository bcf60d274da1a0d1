from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.roles import ModelViewPermission
from support.models import MessageKind, Ticket, TicketMessage
from support.services import intake
from support.services.tickets import TicketRefused

from . import filters, serializers

# Who may see internal notes: agents and operators; anyone else sees the conversation only.
SEES_NOTES = "support.work_ticket"


class TicketViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Driver tickets: list and follow them with their messages, or open one (channel `api`).

    Support agents and operators only. `station` filters by the charger's identity."""

    serializer_class = serializers.TicketSerializer
    filterset_class = filters.TicketFilter
    permission_classes = [ModelViewPermission]
    required_permission = "support.view_ticket"
    write_permission = "support.add_ticket"
    ordering_fields = ["created_at", "updated_at"]
    # Ids are database integers: a longer number is no ticket, never a query.
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self):
        messages = TicketMessage.objects.select_related("author").prefetch_related("attachments")
        if not self.request.user.has_perm(SEES_NOTES):
            messages = messages.exclude(kind=MessageKind.NOTE)
        # Station, connector and requester by join; messages (with authors) and their
        # attachments in two prefetches: five queries for any page size.
        return (
            Ticket.objects.select_related("station", "connector", "requester")
            .prefetch_related(Prefetch("messages", queryset=messages.order_by("created_at", "id")))
            .order_by("-created_at", "-id")
        )

    @extend_schema(request=serializers.TicketCreateSerializer, responses={201: serializers.TicketSerializer})
    def create(self, request, *args, **kwargs):
        body = serializers.TicketCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            ticket = intake.api_ticket_create(
                by=request.user,
                body=data["body"],
                subject=data["subject"],
                category=data["category"],
                station=data["station"],
                connector_id=data["connector_id"],
                name=data["name"],
                email=data["email"],
                phone=data["phone"],
            )
        except TicketRefused as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        created = self.get_queryset().get(pk=ticket.pk)
        return Response(self.get_serializer(created).data, status=status.HTTP_201_CREATED)
