"""The driver API: a ticket opened and followed without an account, through its follow token."""

import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from support.models import MessageKind, Ticket, TicketChannel, TicketStatus
from support.services import links
from support.services.tickets import ticket_message_add, ticket_move
from tests.factories import ConnectorFactory, StationFactory

CREATE = "/api/driver/tickets/"


@pytest.fixture(autouse=True)
def own_counters(settings):
    """Throttle counters of this test only, on the real Redis cache, and room for the flow."""
    cache = dict(settings.CACHES["default"])
    cache["KEY_PREFIX"] = f"{settings.CHANNEL_PREFIX}-t-{uuid.uuid4().hex[:10]}"
    settings.CACHES = {"default": cache}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"driver-tickets": "1000/hour"}}


@pytest.fixture
def client():
    return APIClient()


def _open(client, **fields):
    return client.post(CREATE, {"category": "wont_start", "description": "It will not start", **fields}, format="json")


def _follow(token: str) -> str:
    return reverse("driver-ticket-detail", args=[token])


def _reply(token: str) -> str:
    return reverse("driver-ticket-messages", args=[token])


@pytest.mark.django_db
def test_driver_opens_follows_and_answers_a_ticket_seeing_public_messages_only(client, actors):
    station = StationFactory(identity="DRV-1")
    ConnectorFactory(station=station, connector_id=2)

    created = _open(client, station="DRV-1", connector_id=2, name="Ada", email="Ada@Example.test")

    assert created.status_code == 201, created.json()
    data = created.json()
    ticket = Ticket.objects.get()
    assert data["reference"] == ticket.reference and data["status"] == TicketStatus.NEW
    assert data["category"] == "wont_start" and data["station"] == "DRV-1" and data["connector_id"] == 2
    assert [m["body"] for m in data["messages"]] == ["It will not start"]
    assert data["follow_token"] == links.follow_token(ticket)
    assert data["follow_url"] == links.follow_url(ticket)
    assert ticket.channel == TicketChannel.API and ticket.requester.email == "ada@example.test"
    token = data["follow_token"]

    followed = client.get(_follow(token))
    assert followed.status_code == 200 and followed.json()["reference"] == ticket.reference

    answered = client.post(_reply(token), {"body": "Still nothing"}, format="json")
    assert answered.status_code == 201
    assert [m["body"] for m in answered.json()["messages"]] == ["It will not start", "Still nothing"]
    last = ticket.messages.order_by("-id").first()
    assert last.kind == MessageKind.DRIVER and last.channel == TicketChannel.API

    ticket_message_add(
        ticket=ticket, kind=MessageKind.NOTE, body="driver sounds annoyed", channel=TicketChannel.API,
        author=actors.support,
    )  # fmt: skip
    seen = client.get(_follow(token)).json()
    assert "driver sounds annoyed" not in str(seen)

    ticket_message_add(
        ticket=ticket, kind=MessageKind.REPLY, body="We restarted it", channel=TicketChannel.API,
        author=actors.support,
    )  # fmt: skip
    seen = client.get(_follow(token)).json()
    assert [m["body"] for m in seen["messages"]][-1] == "We restarted it"
    assert [m["kind"] for m in seen["messages"]] == ["driver", "driver", "reply"]
    assert "sam" not in str(seen)  # the support agent's account stays ours


@pytest.mark.django_db
def test_a_token_opens_only_its_own_ticket(client):
    mine = _open(client).json()
    theirs = _open(client, description="Cable stuck").json()

    seen = client.get(_follow(mine["follow_token"])).json()

    assert seen["reference"] == mine["reference"]
    assert "Cable stuck" not in str(seen)
    assert seen["reference"] != theirs["reference"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        "tampered",
        "x" * 1000,
        "%00",
    ],
)
def test_a_foreign_or_odd_token_is_a_404(client, token):
    assert client.get(f"{CREATE}{token}/").status_code == 404
    assert client.post(f"{CREATE}{token}/messages/", {"body": "hi"}, format="json").status_code == 404


@pytest.mark.django_db
def test_an_altered_token_is_a_404(client):
    token = _open(client).json()["follow_token"]
    ticket = Ticket.objects.get()
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_salt = links.signing.dumps([ticket.pk, int(ticket.created_at.timestamp())], salt="elsewhere")

    assert client.get(_follow(altered)).status_code == 404
    assert client.get(_follow(other_salt)).status_code == 404
    assert client.post(_reply(altered), {"body": "hi"}, format="json").status_code == 404
    assert ticket.messages.count() == 1


@pytest.mark.django_db
def test_answering_a_closed_ticket_is_a_409_that_says_so(client):
    token = _open(client).json()["follow_token"]
    ticket = Ticket.objects.get()
    ticket_move(ticket=ticket, to=TicketStatus.CLOSED, by=None)

    response = client.post(_reply(token), {"body": "Hello?"}, format="json")

    assert response.status_code == 409
    assert "closed" in response.json()["detail"]
    assert ticket.messages.count() == 1


@pytest.mark.django_db
def test_a_drivers_answer_reopens_a_resolved_ticket(client):
    token = _open(client).json()["follow_token"]
    ticket_move(ticket=Ticket.objects.get(), to=TicketStatus.RESOLVED, by=None)

    response = client.post(_reply(token), {"body": "It broke again"}, format="json")

    assert response.status_code == 201 and response.json()["status"] == TicketStatus.OPEN


@pytest.mark.django_db
def test_writes_are_limited_per_client_address(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"driver-tickets": "2/hour"}}
    assert _open(client).status_code == 201
    token = _open(client).json()["follow_token"]

    limited = _open(client)
    spoofed = _open(client, HTTP_X_FORWARDED_FOR="198.51.100.9")

    assert limited.status_code == 429 and limited["Retry-After"]
    assert spoofed.status_code == 429
    assert client.post(_reply(token), {"body": "hi"}, format="json").status_code == 429
    assert client.get(_follow(token)).status_code == 200  # reading one's ticket is not counted
    assert Ticket.objects.count() == 2
    other = APIClient(REMOTE_ADDR="192.0.2.7")
    assert _open(other).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"description": "   "}, "description", "blank"),
        ({"description": "x" * 20_001}, "description", "20000"),
        ({"category": "lost_keys"}, "category", "not a valid choice"),
        ({"station": "NOPE"}, "station", "no charger"),
        ({"connector_id": 1}, "connector_id", "station"),
        ({"email": "not-an-address"}, "email", "email"),
    ],
)
def test_bad_input_is_a_400_that_says_why(client, fields, field, reason):
    response = _open(client, **fields)

    assert response.status_code == 400
    assert reason in str(response.json()[field])
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_an_unknown_connector_is_a_400_that_says_why(client):
    StationFactory(identity="DRV-2")

    response = _open(client, station="DRV-2", connector_id=9)

    assert response.status_code == 400 and "no connector 9" in str(response.json())


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "reason"), [("", "blank"), ("  \n ", "blank"), ("x" * 20_001, "20000")])
def test_an_empty_or_oversized_answer_is_a_400_that_says_why(client, body, reason):
    token = _open(client).json()["follow_token"]

    response = client.post(_reply(token), {"body": body}, format="json")

    assert response.status_code == 400 and reason in str(response.json()["body"])
    assert Ticket.objects.get().messages.count() == 1


@pytest.mark.django_db
def test_following_a_ticket_takes_a_fixed_number_of_queries(client, django_assert_num_queries):
    token = _open(client).json()["follow_token"]
    for n in range(5):
        ticket_message_add(ticket=Ticket.objects.get(), kind=MessageKind.DRIVER, body=f"m{n}", channel="api")

    # The token's ticket, then the ticket with its join and its public messages.
    with django_assert_num_queries(3):
        assert client.get(_follow(token)).status_code == 200
