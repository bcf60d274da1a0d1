"""Support reports on hand-built tickets whose figures are known."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from support.models import Ticket
from support.services.reports import support_report
from tests.factories import SiteFactory, StationFactory, WorkOrderFactory

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def make(**fields) -> Ticket:
    """A ticket as it stands after being worked: created at T0 unless said otherwise."""
    created = fields.pop("created_at", T0)
    ticket = Ticket.objects.create(subject="x", channel=fields.pop("channel", "email"), **fields)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
    return ticket


@pytest.fixture
def world(db, actors):
    """Six tickets in March 2026 and one outside it.

    first response: due T0+1h; answered after 30 min (met) x3, after 2 h (missed) x1, unanswered x2.
    resolution: due T0+8h; resolved after 4 h (met) x2, after 10 h (missed) x1.
    """
    site_a, site_b = SiteFactory(name="Harbour"), SiteFactory(name="Airport")
    one, two = StationFactory(identity="REP-1", site=site_a), StationFactory(identity="REP-2", site=site_b)
    order = WorkOrderFactory(station=one, incident__connector__station=one)
    due = {"first_response_due_at": T0 + timedelta(hours=1), "resolution_due_at": T0 + timedelta(hours=8)}
    sam, olga = actors.support, actors.operator
    make(
        **due,
        station=one,
        category="wont_start",
        channel="qr_page",
        assignee=sam,
        first_response_at=T0 + timedelta(minutes=30),
        resolved_at=T0 + timedelta(hours=4),
        resolved_in_first_contact=True,
        satisfaction="good",
    )
    make(
        **due,
        station=one,
        category="wont_start",
        channel="email",
        assignee=sam,
        first_response_at=T0 + timedelta(minutes=30),
        resolved_at=T0 + timedelta(hours=4),
        satisfaction="good",
    )
    make(
        **due,
        station=one,
        category="damaged",
        channel="phone",
        assignee=olga,
        first_response_at=T0 + timedelta(minutes=30),
        resolved_at=T0 + timedelta(hours=10),
        work_order=order,
        satisfaction="bad",
    )
    make(
        **due,
        station=two,
        category="payment",
        channel="email",
        assignee=olga,
        first_response_at=T0 + timedelta(hours=2),
    )
    make(**due, station=two, category="payment", channel="chat")
    make(**due, category="other", channel="email")
    make(**due, category="other", created_at=datetime(2026, 5, 1, 9, tzinfo=UTC))  # outside the period
    return {"sam": sam, "olga": olga}  # fmt: skip


def test_report_figures_on_known_tickets(world):
    report = support_report(start=date(2026, 3, 1), end=date(2026, 3, 31))

    f = report.totals
    assert f.total == 6
    assert (f.response_met, f.response_missed, f.response_met_share) == (3, 1, 75.0)
    assert f.response_avg == timedelta(minutes=(30 * 3 + 120) / 4)
    assert (f.resolution_met, f.resolution_missed, f.resolved) == (2, 1, 3)
    assert f.resolution_avg == timedelta(hours=6)
    assert (f.first_contact, f.first_contact_share) == (1, 33.3)
    assert (f.no_truck_roll, f.no_truck_roll_share) == (2, 66.7)
    assert (f.good, f.bad, f.satisfaction_share) == (2, 1, 66.7)
    assert dict(report.by_category) == {"Won't start": 2, "Damaged or dirty": 1, "Payment or price": 2, "Other": 1}
    assert dict(report.by_channel) == {"Charger page": 1, "Email": 3, "Phone": 1, "Live chat": 1}
    assert report.by_station == [("REP-1", 3), ("REP-2", 2)]
    assert dict(report.by_site) == {"Harbour": 3, "Airport": 2}
    agents = {a.label: a for a in report.by_agent}
    assert (agents["sam"].total, agents["sam"].resolved, agents["sam"].satisfaction_share) == (2, 2, 100.0)
    assert (agents["olga"].total, agents["olga"].response_met_share) == (2, 50.0)


def test_report_for_one_agent(world):
    report = support_report(start=date(2026, 3, 1), end=date(2026, 3, 31), agent=world["sam"])

    assert report.totals.total == 2
    assert report.totals.first_contact == 1


def test_report_page_shows_the_figures_in_a_fixed_number_of_queries(client, actors, world):
    client.force_login(actors.operator)
    url = reverse("support:reports")
    params = {"start": "2026-03-01", "end": "2026-03-31"}

    with CaptureQueriesContext(connection) as few:
        response = client.get(url, params)
    for _ in range(50):
        make(category="other", first_response_due_at=T0, first_response_at=T0, assignee=actors.dispatcher)
    with CaptureQueriesContext(connection) as many:
        client.get(url, params)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="fig-total">6<' in page and 'id="fig-response-met">75.0 %<' in page
    assert "average 52 min" in page and "average 6 h 00 min" in page
    assert len(few) == len(many)


def test_report_without_dates_shows_the_last_30_days_in_the_form(client, actors, world):
    client.force_login(actors.operator)

    response = client.get(reverse("support:reports"))

    report = response.context["report"]
    assert (report.end - report.start).days == 29
    assert f'value="{report.end.isoformat()}"' in response.content.decode()


def test_bad_period_is_a_400_with_the_dates_kept(client, actors, world):
    client.force_login(actors.operator)

    response = client.get(reverse("support:reports"), {"start": "2026-04-01", "end": "2026-03-01"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "The period starts after it ends." in page and 'value="2026-04-01"' in page
