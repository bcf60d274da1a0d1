from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import fields, mixins, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.roles import ModelViewPermission
from support import selectors
from support.models import MessageKind, Ticket, TicketChannel, TicketMessage, TicketStatus
from support.services import intake, links
from support.services.tickets import TicketRefused, ticket_message_add

from . import filters, serializers
from .throttles import DriverTicketThrottle

# Longer than any follow token the site signs; anything longer is no ticket, never a 500.
TOKEN_MAX = 300
_Detail = inline_serializer("DriverErrorDetail", {"detail": fields.CharField()})

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


# --- The driver's own ticket, without an account ----------------------------------

_TOKEN = OpenApiParameter(
    "token",
    {"type": "string", "minLength": 1, "maxLength": TOKEN_MAX},
    OpenApiParameter.PATH,
    description="The ticket's follow token, as the ticket was created with (`follow_token`).",
)
_LIMITED = OpenApiResponse(response=_Detail, description="Too many requests from this address; see Retry-After.")


class DriverApiView(APIView):
    """Public: no account, no session, so no CSRF either; the follow token is the key."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [DriverTicketThrottle]

    def get_throttles(self):
        # Writes count against the address; reading one's own ticket does not.
        return super().get_throttles() if self.request.method == "POST" else []

    def ticket_or_404(self, token: str) -> Ticket:
        named = links.ticket_from_token(token)
        ticket = selectors.ticket_for_driver(named.pk) if named else None
        if ticket is None:
            raise NotFound("no such ticket")
        return ticket

    def answer(self, ticket: Ticket, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(serializers.DriverTicketSerializer(ticket).data, status=status_code)


class DriverTicketCreateView(DriverApiView):
    @extend_schema(
        summary="Open a ticket as a driver (no account)",
        description="Answers the ticket with its `follow_token`, the only key to it afterwards.",
        auth=[],
        request=serializers.DriverTicketCreateSerializer,
        responses={201: serializers.DriverTicketSerializer, 429: _LIMITED},
        tags=["driver"],
    )
    def post(self, request):
        body = serializers.DriverTicketCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            ticket = intake.api_ticket_create(
                by=None,
                body=data["description"],
                category=data["category"],
                station=data["station"],
                connector_id=data["connector_id"],
                name=data["name"],
                email=data["email"],
                phone=data["phone"],
            )
        except TicketRefused as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        return self.answer(selectors.ticket_for_driver(ticket.pk), status.HTTP_201_CREATED)


class DriverTicketView(DriverApiView):
    @extend_schema(
        summary="Follow one's own ticket",
        description="The ticket its token names, with the driver's messages and public replies; "
        "an altered or unknown token is a 404.",
        auth=[],
        parameters=[_TOKEN],
        responses={200: serializers.DriverTicketSerializer},
        tags=["driver"],
    )
    def get(self, request, token: str):
        return self.answer(self.ticket_or_404(token))


class DriverTicketReplyView(DriverApiView):
    @extend_schema(
        summary="Answer on one's own ticket",
        description="Reopens a ticket that waited on the driver or was resolved; a closed one is a 409.",
        auth=[],
        parameters=[_TOKEN],
        request=serializers.DriverReplySerializer,
        responses={
            201: serializers.DriverTicketSerializer,
            409: OpenApiResponse(response=_Detail, description="The ticket is closed: open a new one."),
            429: _LIMITED,
        },
        tags=["driver"],
    )
    def post(self, request, token: str):
        ticket = self.ticket_or_404(token)
        body = serializers.DriverReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            ticket_message_add(
                ticket=ticket, kind=MessageKind.DRIVER, body=body.validated_data["body"], channel=TicketChannel.API
            )
        except TicketRefused as exc:
            if ticket.status == TicketStatus.CLOSED:
                return Response({"detail": f"{exc}: open a new one"}, status=status.HTTP_409_CONFLICT)
            raise ValidationError({"body": [str(exc)]}) from None
        return self.answer(selectors.ticket_for_driver(ticket.pk), status.HTTP_201_CREATED)
