"""Send an OCPP command to a station from the command line."""

import json

from django.core.management.base import BaseCommand, CommandError

from stations.models import ChargingStation
from stations.services import commands


class Command(BaseCommand):
    help = (
        "Send ACTION to the station IDENTITY through whichever server process holds its socket, wait for the "
        "answer, and print the outcome as JSON. Exits 0 only when the charger answered with a CALLRESULT."
    )

    def add_arguments(self, parser):
        parser.add_argument("identity")
        parser.add_argument("action", help=", ".join(commands.ACTIONS))
        parser.add_argument("--payload", default="{}", help='JSON object, e.g. {"type": "Soft"}')
        parser.add_argument("--timeout", type=float, default=commands.DEFAULT_TIMEOUT_S)

    def handle(self, *args, identity, action, payload, timeout, **options):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise CommandError(f"--payload is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise CommandError("--payload must be a JSON object")
        station = ChargingStation.objects.filter(identity=identity).first()
        if station is None:
            raise CommandError(f"no station {identity!r}")
        try:
            command = commands.command_send(
                station=station, action=action, payload=payload, requested_via="cli", timeout_s=timeout
            )
        except commands.CommandInvalid as exc:
            raise CommandError(str(exc)) from None
        outcome = {
            "id": command.pk,
            "station": identity,
            "action": action,
            "status": command.status,
            "response": command.response,
            "error_code": command.error_code or None,
            "error_description": command.error_description or None,
        }
        self.stdout.write(json.dumps(outcome, indent=2))
        if command.response is None:
            raise SystemExit(1)
