import secrets

from django.db import transaction
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from billing.models import Account, AccountTag, Payment, Tariff, TariffAssignment
from billing.services import account_changes, cdrs, tariffs
from billing.services.account_changes import AccountChangeRefused
from billing.services.tariffs import TERM_FIELDS, TariffInvalid
from config.roles import ModelViewPermission
from stations.models import ChargingStation, Connector, Site

from . import filters, serializers

ACCOUNT_WRITE = "billing.change_account"
# Ids in paths are numbers: anything else is a 404 before it reaches the database.
ID_IN_PATH = r"[0-9]{1,18}"


class AccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Accounts that ID tags charge to. Support agents read; operators write (changes are recorded)."""

    lookup_value_regex = ID_IN_PATH
    serializer_class = serializers.AccountSerializer
    filterset_class = filters.AccountFilter
    permission_classes = [ModelViewPermission]
    required_permission = "billing.view_account"
    write_permission = ACCOUNT_WRITE
    ordering_fields = ["name", "created_at"]
    queryset = Account.objects.order_by("name", "id")

    def perform_create(self, serializer):
        try:
            serializer.instance = account_changes.account_create(by=self.request.user, **serializer.validated_data)
        except AccountChangeRefused as exc:
            raise ValidationError({"detail": str(exc)}) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = account_changes.account_update(
                account=serializer.instance, by=self.request.user, **serializer.validated_data
            )
        except AccountChangeRefused as exc:
            raise ValidationError({"detail": str(exc)}) from None

    def _status(self, request, change) -> Response:
        body = serializers.AccountStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            account = change(account=self.get_object(), reason=body.validated_data["reason"], by=request.user)
        except AccountChangeRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(serializers.AccountSerializer(account).data)

    @extend_schema(request=serializers.AccountStatusSerializer, responses={200: serializers.AccountSerializer})
    @action(detail=True, methods=["post"])
    def block(self, request, pk=None):
        return self._status(request, account_changes.account_block)

    @extend_schema(request=serializers.AccountStatusSerializer, responses={200: serializers.AccountSerializer})
    @action(detail=True, methods=["post"])
    def unblock(self, request, pk=None):
        return self._status(request, account_changes.account_unblock)


class TagViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """ID tags linked to accounts. POST links a tag (an unknown one is registered); DELETE unlinks it."""

    lookup_value_regex = ID_IN_PATH
    serializer_class = serializers.TagSerializer
    filterset_class = filters.TagFilter
    permission_classes = [ModelViewPermission]
    required_permission = "billing.view_accounttag"
    write_permission = ACCOUNT_WRITE
    queryset = AccountTag.objects.select_related("id_tag", "account").order_by("id_tag__id_tag")

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = account_changes.account_tag_link(
                account=data["account"], id_tag=data["id_tag"]["id_tag"], label=data.get("label", ""),
                by=self.request.user,
            )  # fmt: skip
        except AccountChangeRefused as exc:
            raise ValidationError({"id_tag": str(exc)}) from None

    def perform_destroy(self, instance):
        account_changes.account_tag_unlink(link=instance, by=self.request.user)


class TariffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tariffs with their current terms and where they apply. Operators only.

    POST creates one (version 1) and applies it at the stations, sites and
    connectors named; `POST /api/tariffs/<id>/revise/` makes a new version:
    sessions already started keep the version they started with."""

    lookup_value_regex = ID_IN_PATH
    serializer_class = serializers.TariffSerializer
    filterset_class = filters.TariffFilter
    permission_classes = [ModelViewPermission]
    required_permission = "billing.view_tariff"
    write_permission = "billing.add_tariff"

    def get_queryset(self):
        places = TariffAssignment.objects.select_related("station", "site", "connector__station")
        return (
            Tariff.objects.select_related("current_version")
            .prefetch_related(Prefetch("assignments", queryset=places))
            .order_by("name")
        )

    @extend_schema(request=serializers.TariffCreateSerializer, responses={201: serializers.TariffSerializer})
    def create(self, request):
        body = serializers.TariffCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        places = _places(data)
        name = data.pop("name", "") or _name_for(places)
        if Tariff.objects.filter(name=name).exists():
            raise ValidationError({"name": "a tariff of this name exists"})
        terms = {key: data[key] for key in TERM_FIELDS if key in data}
        try:
            with transaction.atomic():
                tariff = tariffs.tariff_create(
                    name=name, currency=data["currency"], by=request.user, is_default=data.get("is_default", False),
                    valid_from=data.get("valid_from"), valid_until=data.get("valid_until"), **places, **terms,
                )  # fmt: skip
        except TariffInvalid as exc:
            raise ValidationError({"periods": str(exc)}) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=tariff.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=serializers.TariffTermsSerializer, responses={200: serializers.TariffSerializer})
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        tariff = get_object_or_404(Tariff, pk=pk)
        body = serializers.TariffTermsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tariffs.tariff_revise(tariff=tariff, by=request.user, **body.validated_data)
        except TariffInvalid as exc:
            raise ValidationError({"periods": str(exc)}) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=tariff.pk)).data)


def _places(data: dict) -> dict:
    stations = list(dict.fromkeys(data.pop("stations", [])))
    sites = list(dict.fromkeys(data.pop("sites", [])))
    connectors = list(dict.fromkeys(data.pop("connectors", [])))
    found_stations = {s.identity: s for s in ChargingStation.objects.filter(identity__in=stations)}
    found_sites = {s.name: s for s in Site.objects.filter(name__in=sites)}
    wanted = [(name.rpartition("/")[0], int(name.rpartition("/")[2])) for name in connectors]
    found_connectors = {
        (c.station.identity, c.connector_id): c
        for c in Connector.objects.select_related("station").filter(station__identity__in={i for i, _ in wanted})
    }
    errors = {}
    if missing := [s for s in stations if s not in found_stations]:
        errors["stations"] = f"no such station: {', '.join(missing[:10])}"
    if missing := [s for s in sites if s not in found_sites]:
        errors["sites"] = f"no such site: {', '.join(missing[:10])}"
    if missing := [f"{i}/{n}" for i, n in wanted if (i, n) not in found_connectors]:
        errors["connectors"] = f"no such connector: {', '.join(missing[:10])}"
    if errors:
        raise ValidationError(errors)
    return {
        "stations": [found_stations[s] for s in stations],
        "sites": [found_sites[s] for s in sites],
        "connectors": [found_connectors[key] for key in wanted],
    }


def _name_for(places: dict) -> str:
    first = next((s.identity for s in places["stations"]), None) or "network"
    return f"Tariff {first} {secrets.token_hex(3)}"[:100]


class PaymentViewSet(viewsets.ReadOnlyModelViewSet):
    """Payments and their states (authorised, captured, refunded, ...). Read-only: money moves through services."""

    lookup_value_regex = ID_IN_PATH
    serializer_class = serializers.PaymentSerializer
    filterset_class = filters.PaymentFilter
    permission_classes = [ModelViewPermission]
    required_permission = "billing.view_payment"
    ordering_fields = ["created_at", "updated_at"]
    queryset = Payment.objects.select_related("account").order_by("-created_at", "-id")


class CdrViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Charge detail records of finished sessions, in the order they ended."""

    serializer_class = serializers.CdrSerializer
    filterset_class = filters.CdrFilter
    permission_classes = [ModelViewPermission]
    required_permission = "billing.view_sessionbilling"
    ordering_fields = []

    def get_queryset(self):
        return cdrs.cdr_sessions()

    def list(self, request, *args, **kwargs):
        sessions = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(sessions)
        # Power peaks and payment methods for the whole page at once.
        records = cdrs.cdrs_build(page)
        return self.get_paginated_response(self.get_serializer(records, many=True).data)
