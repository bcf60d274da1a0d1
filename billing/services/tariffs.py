"""Tariffs: creating and revising them, and which one applies where."""

from datetime import datetime, time
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Max, Q

from billing.models import Tariff, TariffAssignment, TariffVersion
from stations.models import ChargingStation, Connector, Site

from .pricing import Period, Terms

TERM_FIELDS = (
    "price_per_kwh",
    "price_per_minute",
    "idle_price_per_minute",
    "idle_grace_minutes",
    "session_fee",
    "minimum_price",
    "maximum_price",
    "tax_rate",
    "preauth_amount",
    "periods",
)


class TariffInvalid(ValueError):
    pass


def periods_parse(raw: list) -> tuple[Period, ...]:
    """Time-of-use windows from their stored form; raises TariffInvalid with what is wrong."""
    if not isinstance(raw, list):
        raise TariffInvalid("periods must be a list")
    if len(raw) > 50:
        raise TariffInvalid("at most 50 time-of-use periods")
    periods = []
    for number, item in enumerate(raw, start=1):
        try:
            days = frozenset(int(day) for day in item.get("days", range(7)))
            if not days or not days <= set(range(7)):
                raise ValueError("days are 0 (Monday) to 6 (Sunday)")
            start, end = time.fromisoformat(item["start"]), time.fromisoformat(item["end"])
            kwh = item.get("price_per_kwh")
            minute = item.get("price_per_minute")
            periods.append(
                Period(
                    days=days,
                    start=start,
                    end=end,
                    price_per_kwh=None if kwh in (None, "") else _price(kwh),
                    price_per_minute=None if minute in (None, "") else _price(minute),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise TariffInvalid(f"period {number}: {exc}") from None
    return tuple(periods)


def _price(value) -> Decimal:
    price = Decimal(str(value))
    if not price.is_finite() or price < 0 or price > 10_000:
        raise ValueError(f"{value!r} is not a price between 0 and 10000")
    return price


def terms_of(version: TariffVersion, *, time_zone: str) -> Terms:
    return Terms(
        currency=version.tariff.currency,
        time_zone=time_zone,
        price_per_kwh=version.price_per_kwh,
        price_per_minute=version.price_per_minute,
        idle_price_per_minute=version.idle_price_per_minute,
        idle_grace_minutes=version.idle_grace_minutes,
        session_fee=version.session_fee,
        minimum_price=version.minimum_price,
        maximum_price=version.maximum_price,
        tax_rate=version.tax_rate,
        periods=periods_parse(version.periods),
    )


@transaction.atomic
def tariff_create(
    *,
    name: str,
    currency: str,
    by=None,
    is_default: bool = False,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    stations: list[ChargingStation] = (),
    sites: list[Site] = (),
    connectors: list[Connector] = (),
    **terms,
) -> Tariff:
    tariff = Tariff.objects.create(
        name=name, currency=currency.upper(), is_default=is_default, valid_from=valid_from, valid_until=valid_until
    )
    tariff_revise(tariff=tariff, by=by, **terms)
    tariff_assign(tariff=tariff, stations=stations, sites=sites, connectors=connectors)
    return tariff


@transaction.atomic
def tariff_revise(*, tariff: Tariff, by=None, **terms) -> TariffVersion:
    """New terms become a new version; sessions already started keep theirs."""
    unknown = set(terms) - set(TERM_FIELDS)
    if unknown:
        raise TariffInvalid(f"unknown tariff terms: {sorted(unknown)}")
    periods_parse(terms.get("periods", []))
    tariff = Tariff.objects.select_for_update().get(pk=tariff.pk)
    current = tariff.current_version
    inherited = {name: getattr(current, name) for name in TERM_FIELDS} if current else {}
    number = (tariff.versions.aggregate(top=Max("version"))["top"] or 0) + 1
    version = TariffVersion.objects.create(tariff=tariff, version=number, created_by=by, **{**inherited, **terms})
    tariff.current_version = version
    tariff.save(update_fields=["current_version"])
    return version


@transaction.atomic
def tariff_assign(*, tariff: Tariff, stations=(), sites=(), connectors=()) -> None:
    """Apply the tariff there, replacing what applied at exactly that place before."""
    for field, targets in (("station", stations), ("site", sites), ("connector", connectors)):
        for target in targets:
            TariffAssignment.objects.filter(**{field: target}).delete()
            TariffAssignment.objects.create(tariff=tariff, **{field: target})


def _valid(at: datetime) -> Q:
    return (Q(tariff__valid_from__isnull=True) | Q(tariff__valid_from__lte=at)) & (
        Q(tariff__valid_until__isnull=True) | Q(tariff__valid_until__gt=at)
    )


def tariff_version_for(*, connector: Connector, at: datetime) -> TariffVersion | None:
    """The version that applies to a session starting now on this connector:
    the connector's tariff, else the station's, else the site's, else the
    network default; a tariff outside its validity dates is passed over."""
    station = connector.station
    assignments = {
        assignment_target(a): a.tariff
        for a in TariffAssignment.objects.filter(_valid(at))
        .filter(Q(connector=connector) | Q(station_id=station.pk) | Q(site_id=station.site_id, site__isnull=False))
        .select_related("tariff__current_version__tariff")
    }
    for target in ("connector", "station", "site"):
        if target in assignments:
            return assignments[target].current_version
    default = (
        Tariff.objects.filter(is_default=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=at))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .select_related("current_version__tariff")
        .first()
    )
    return default.current_version if default else None


def assignment_target(assignment: TariffAssignment) -> str:
    if assignment.connector_id:
        return "connector"
    if assignment.station_id:
        return "station"
    return "site"


@transaction.atomic
def tariff_update(
    *,
    tariff: Tariff,
    name: str,
    is_default: bool,
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> Tariff:
    """A tariff's name, default flag and validity; its terms change only by a new version."""
    if valid_from and valid_until and valid_until <= valid_from:
        raise TariffInvalid("the tariff must end after it starts")
    if is_default:
        Tariff.objects.filter(is_default=True).exclude(pk=tariff.pk).update(is_default=False)
    Tariff.objects.filter(pk=tariff.pk).update(
        name=name, is_default=is_default, valid_from=valid_from, valid_until=valid_until
    )
    tariff.refresh_from_db()
    return tariff


@transaction.atomic
def tariff_assignments_set(*, tariff: Tariff, stations=(), sites=(), connectors=()) -> None:
    """Apply the tariff at exactly these places: places left out no longer have it."""
    keep = (
        Q(station__in=[s.pk for s in stations]) | Q(site__in=[s.pk for s in sites])
        | Q(connector__in=[c.pk for c in connectors])
    )  # fmt: skip
    tariff.assignments.exclude(keep).delete()
    tariff_assign(tariff=tariff, stations=stations, sites=sites, connectors=connectors)
