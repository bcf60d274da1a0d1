from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from config import roles
from stations.models import ChargingStation, Connector, IdTag, Site
from stations.services import credentials
from workorders.models import (
    ErrorCode,
    Incident,
    IncidentKind,
    IncidentStatus,
    Priority,
    RemoteStep,
    Technician,
    WorkOrder,
    WorkOrderKind,
    WorkOrderStatus,
)

STATION_PASSWORD = "test-station-secret-123"
AMSTERDAM = (Decimal("52.370216"), Decimal("4.895168"))
ROTTERDAM = (Decimal("51.924420"), Decimal("4.477733"))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")
    time_zone = "Europe/Amsterdam"


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChargingStation

    identity = factory.Sequence(lambda n: f"CP-{n:05d}")
    site = factory.SubFactory(SiteFactory)
    vendor = "Acme"
    model = "X1"
    password_hash = factory.LazyFunction(lambda: credentials.hash_password(STATION_PASSWORD))
    last_message_at = factory.LazyFunction(timezone.now)


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connector

    station = factory.SubFactory(StationFactory)
    connector_id = 1
    status = "Available"


class IdTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdTag

    id_tag = factory.Sequence(lambda n: f"TAG{n:05d}")


# --- Work orders -------------------------------------------------------------
# Rows as they stand after the services made them, for tests about reading and
# showing them. Tests about how they come to be call the services instead.


class ErrorCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorCode
        django_get_or_create = ("vendor", "code")

    vendor = ""
    code = factory.Sequence(lambda n: f"TEST-{n:03d}")
    meaning = factory.LazyAttribute(lambda o: f"{o.code}: a fault for tests")
    remotely_fixable = True
    remote_steps = factory.LazyFunction(lambda: [RemoteStep.TRIGGER_STATUS, RemoteStep.SOFT_RESET])
    field_steps = "Replace the part."
    skills = factory.LazyFunction(lambda: ["ac"])


class TechnicianFactory(factory.django.DjangoModelFactory):
    """On shift all day in Amsterdam; a member of the technician role."""

    class Meta:
        model = Technician
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    skills = factory.LazyFunction(lambda: ["ac", "dc"])
    home_latitude = AMSTERDAM[0]
    home_longitude = AMSTERDAM[1]
    work_start = "00:00"
    work_end = "23:59"

    @factory.post_generation
    def in_role(self, create, extracted, **kwargs):
        if create:
            roles.ensure_roles()
            self.user.groups.add(Group.objects.get(name=roles.TECHNICIAN))


class IncidentFactory(factory.django.DjangoModelFactory):
    """An open fault on connector 1 of a new station."""

    class Meta:
        model = Incident

    connector = factory.SubFactory(ConnectorFactory)
    station = factory.SelfAttribute("connector.station")
    kind = IncidentKind.FAULT
    status = IncidentStatus.OPEN
    error_code = "InternalError"
    opened_at = factory.LazyFunction(timezone.now)


class WorkOrderFactory(factory.django.DjangoModelFactory):
    """A corrective work order for an incident, not yet assigned."""

    class Meta:
        model = WorkOrder

    incident = factory.SubFactory(IncidentFactory)
    station = factory.SelfAttribute("incident.station")
    connector = factory.SelfAttribute("incident.connector")
    kind = WorkOrderKind.CORRECTIVE
    priority = Priority.P2
    status = WorkOrderStatus.NEW
    title = factory.LazyAttribute(lambda o: f"{o.station.identity}: fix connector {o.connector.connector_id}")
    sla_due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
