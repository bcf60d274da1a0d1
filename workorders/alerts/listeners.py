"""How alerts hear about stations: on the OCPP answer path, enqueue only."""


def status_event(event_id: int) -> None:
    from . import tasks

    tasks.status_event_received.delay(event_id)
