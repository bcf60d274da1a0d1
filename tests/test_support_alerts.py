"""A ticket past its SLA raises the operators' "ticket SLA" alert, and clears it when answered."""

from datetime import timedelta

import pytest
from django.utils import timezone

from support.models import MessageKind, TicketChannel
from support.services.tickets import ticket_create, ticket_message_add
from workorders.alerts.models import Alert, AlertKind, AlertRule, AlertStatus
from workorders.alerts.services.evaluation import alerts_evaluate


@pytest.mark.django_db
def test_a_ticket_past_its_first_response_target_fires_and_a_reply_resolves_it(actors):
    AlertRule.objects.create(name="late tickets", kind=AlertKind.TICKET_SLA, station_identities=[], delay_minutes=0)
    ticket = ticket_create(channel=TicketChannel.API, subject="Cable stuck", body="It will not let go")
    ticket.first_response_due_at = timezone.now() - timedelta(minutes=1)
    ticket.resolution_due_at = timezone.now() + timedelta(days=1)
    ticket.sla_paused_at = None
    ticket.save(update_fields=["first_response_due_at", "resolution_due_at", "sla_paused_at"])

    assert len(alerts_evaluate().fired) == 1
    assert Alert.objects.get().subject_label == ticket.reference

    ticket_message_add(ticket=ticket, kind=MessageKind.REPLY, body="On our way", channel="email", author=actors.support)
    assert len(alerts_evaluate().resolved) == 1
    assert Alert.objects.get().status == AlertStatus.RESOLVED
