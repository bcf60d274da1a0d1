import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from stations.models import ChargingStation, Connector, IdTag, Site
from stations.services import credentials

STATION_PASSWORD = "test-station-secret-123"


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
