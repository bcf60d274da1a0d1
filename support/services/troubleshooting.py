"""Guided troubleshooting: the steps for a ticket's category, as the charger stands now.

Operators edit the steps (and the canned replies, Macro) in the admin, as they
edit the playbook; a new installation starts with the defaults below.
"""

from support.models import Macro, TicketActionKind, TicketCategory, TroubleshootingStep
from support.services import sla

C, A = TicketCategory, TicketActionKind

# (category, when_status, action, text): in the order an agent follows them.
DEFAULT_STEPS: tuple[tuple[str, str, str, str], ...] = (
    (C.WONT_START, "", A.TRIGGER_STATUS, "Ask the charger for its status; ask the driver which connector they use."),
    (
        C.WONT_START,
        "",
        "",
        "Look at the driver's tag below: a refused tag says why (unknown, blocked, expired, account).",
    ),
    (C.WONT_START, "Available", A.REMOTE_START, "The connector is ready: start the session for the driver's tag."),
    (C.WONT_START, "Preparing", A.UNLOCK, "Stuck in Preparing: unlock it and ask the driver to plug in again."),
    (C.WONT_START, "Preparing", A.REMOTE_START, "Plugged in again: start the session for the driver's tag."),
    (C.WONT_START, "Faulted", A.ESCALATE, "The connector is faulted: see the incident beside; escalate to dispatch."),
    (C.WONT_START, "Unavailable", A.ESCALATE, "Out of service: point the driver to another charger and escalate."),
    (C.WONT_START, "Offline", A.ESCALATE, "The charger is offline: point the driver to another charger and escalate."),
    (C.STOPPED_EARLY, "", "", "Look at the driver's last session: when it stopped, why, and the energy delivered."),
    (C.STOPPED_EARLY, "Available", A.REMOTE_START, "The driver is still there: start a new session for their tag."),
    (C.STOPPED_EARLY, "Faulted", A.ESCALATE, "The connector faulted during the session: escalate to dispatch."),
    (C.STOPPED_EARLY, "", A.REFUND, "Refund what the driver paid and did not get, within your limit."),
    (C.CABLE_STUCK, "Charging", A.REMOTE_STOP, "A session is still running: stop it first."),
    (C.CABLE_STUCK, "SuspendedEV", A.REMOTE_STOP, "The car paused charging: stop the session first."),
    (C.CABLE_STUCK, "SuspendedEVSE", A.REMOTE_STOP, "The charger paused charging: stop the session first."),
    (C.CABLE_STUCK, "", A.UNLOCK, "Unlock the connector and ask the driver to pull the plug firmly."),
    (C.CABLE_STUCK, "", A.ESCALATE, "Still locked: escalate; tell the driver a technician will free it."),
    (C.DAMAGED, "", "", "Ask the driver for a photo and whether anything is unsafe (exposed wires, burn marks)."),
    (C.DAMAGED, "", A.TRIGGER_STATUS, "Ask the charger for its status."),
    (C.DAMAGED, "", A.ESCALATE, "Escalate to dispatch with the photo."),
    (C.PAYMENT, "", "", "Compare the session's price with the tariff and the energy delivered (beside)."),
    (C.PAYMENT, "", A.REFUND, "Refund what was charged wrongly, with the reason."),
    (C.OTHER, "", A.TRIGGER_STATUS, "Ask the charger for its status and read its last messages beside."),
)

DEFAULT_MACROS: tuple[tuple[str, str, str], ...] = (
    (
        "Greeting",
        "",
        "Hello {driver_name},\n\nthank you for telling us about the charger {charger}. "
        "We are looking at it now and will write again shortly (ticket {ticket}).",
    ),
    (
        "Session started remotely",
        C.WONT_START,
        "Hello {driver_name},\n\nwe have started the charger {charger} for you from here. "
        "It should be charging within a minute; reply to this message if it is not.",
    ),
    (
        "Refund given",
        C.PAYMENT,
        "Hello {driver_name},\n\nyour session at {charger} delivered {energy_kwh} kWh and cost {price}. "
        "We have refunded the difference; it reaches your card within a few days (ticket {ticket}).",
    ),
    (
        "Technician sent",
        C.DAMAGED,
        "Hello {driver_name},\n\nthe charger {charger} needs a technician, who is on the way. "
        "We will tell you as soon as it works again.",
    ),
)


def steps_for(*, category: str, connector_status: str | None) -> list[TroubleshootingStep]:
    """The category's steps that apply when the connector is in this status (None: unknown,
    then only the steps for any status)."""
    steps = TroubleshootingStep.objects.filter(category=category).order_by("order", "id")
    return [s for s in steps if not s.when_status or s.when_status == connector_status]


def troubleshooting_defaults_seed() -> None:
    """The default steps and macros, for a category or name that has none."""
    seeded = set(TroubleshootingStep.objects.values_list("category", flat=True).distinct())
    rows = []
    for order, (category, when_status, action, text) in enumerate(DEFAULT_STEPS):
        if category not in seeded:
            rows.append(
                TroubleshootingStep(category=category, order=order, when_status=when_status, action=action, text=text)
            )
    TroubleshootingStep.objects.bulk_create(rows)
    for name, category, body in DEFAULT_MACROS:
        Macro.objects.get_or_create(name=name, defaults={"category": category, "body": body})


def desk_defaults_demo_seed(*, password: str = "", log=None) -> None:
    """Demo seeder (stations.services.demo registry): the default team, SLA, steps and macros."""
    sla.sla_defaults_seed()
    troubleshooting_defaults_seed()
    if log:
        log("support desk: default team, SLA policies, troubleshooting steps and macros")
