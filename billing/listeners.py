"""How billing hears about stations: hooks that only enqueue tasks (after commit)."""


def session_started(session_id: int) -> None:
    from . import tasks

    tasks.session_started.delay(session_id)


def session_stopped(session_id: int) -> None:
    from . import tasks

    tasks.session_stopped.delay(session_id)
