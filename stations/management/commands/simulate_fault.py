"""Fault one charger of a running simulator (`manage.py simulate`, or the one `make run` starts)."""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from stations.models import Connector, ConnectorStatus
from stations.simulator import Clear
from stations.simulator.remote import fault_request

CLEARS = {"auto": Clear.AUTO, "reset": Clear.SOFT_RESET, "repair": Clear.HARD_RESET}


class Command(BaseCommand):
    help = (
        "Make a simulated charger report a fault: a ChargeX code (CX001..CX026), its vendor's code "
        "(ACME-E042, VT-3021, NW-31, ...) or an OCPP errorCode (InternalError, GroundFailure, ...)."
    )

    def add_arguments(self, parser):
        parser.add_argument("identity", help="the charger, e.g. SIM-0003")
        parser.add_argument("--code", default="InternalError", help="vendor or OCPP error code (default InternalError)")
        parser.add_argument("--connector", type=int, default=1)
        parser.add_argument(
            "--clears",
            choices=sorted(CLEARS),
            help="what ends it: auto (by itself), reset (a soft reset), repair (a technician); "
            "default: what the code's fault does in the simulator",
        )
        parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the report (0: do not)")

    def handle(self, *args, identity: str, code: str, connector: int, clears: str | None, wait: float, **options):
        # A second of slack: the report's time is the charger's clock, not ours.
        requested_at = timezone.now() - timedelta(seconds=1)
        heard = fault_request(
            settings.REDIS_URL,
            settings.CHANNEL_PREFIX,
            identity=identity,
            code=code,
            connector_id=connector,
            clears=CLEARS[clears] if clears else None,
        )
        if not heard:
            raise CommandError("no simulator is listening: start one with `manage.py simulate` or `make run`")
        if wait <= 0:
            self.stdout.write(f"fault {code} requested for {identity}/{connector}")
            return
        # The simulator tells nobody which chargers it runs; the server's record of the report is the answer.
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            row = (
                Connector.objects.filter(
                    station__identity=identity,
                    connector_id=connector,
                    status=ConnectorStatus.FAULTED,
                    status_since__gte=requested_at,
                )
                .values("error_code", "vendor_error_code")
                .first()
            )
            if row and code.lower() in (row["error_code"].lower(), row["vendor_error_code"].lower()):
                codes = f"{row['error_code']} {row['vendor_error_code']}".strip()
                self.stdout.write(f"{identity}/{connector} reported Faulted: {codes}")
                return
            time.sleep(0.2)
        raise CommandError(
            f"{identity}/{connector} did not report {code} within {wait:g} s: is it one of the simulator's chargers, "
            "and connected?"
        )
