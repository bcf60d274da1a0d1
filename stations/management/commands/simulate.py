"""Run a fleet of simulated OCPP 1.6J chargers against an OCPP endpoint.

While it runs, `manage.py simulate_fault IDENTITY --code CODE` faults one of
its chargers (requests arrive over Redis; see stations.simulator.remote).
"""

import asyncio
import logging
import os
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from stations.simulator import DEMO_ID_TAGS, SimConfig, Stats, run_fleet
from stations.simulator.remote import fault_listen


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        raise CommandError(f"{name} must be a number") from None


class Command(BaseCommand):
    help = "Connect simulated chargers {prefix}{n:04d} to an OCPP 1.6J endpoint until Ctrl-C or --duration."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=10)
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp/", help="endpoint without the identity")
        parser.add_argument("--prefix", default="SIM-")
        parser.add_argument("--start", type=int, default=1, help="number of the first charger")
        parser.add_argument(
            "--password",
            default=os.environ.get("SIMULATOR_PASSWORD", "simulator-demo-secret"),
            help="the stations' password (default: env SIMULATOR_PASSWORD)",
        )
        parser.add_argument("--id-tags", default=",".join(DEMO_ID_TAGS), help="comma-separated")
        parser.add_argument("--meter-interval", type=float, default=30.0, help="seconds between MeterValues")
        parser.add_argument(
            "--heartbeat-interval", type=float, default=None, help="seconds; default: what the server answers"
        )
        parser.add_argument("--mean-idle", type=float, default=600.0, help="mean seconds between connector events")
        parser.add_argument("--session-probability", type=float, default=0.5)
        parser.add_argument("--mean-session", type=float, default=1800.0, help="mean session length, seconds")
        parser.add_argument(
            "--mean-fault-interval",
            type=float,
            default=_env_float("SIMULATOR_MEAN_FAULT_INTERVAL_S", 1800.0),
            help="mean seconds between faults of one idle charger, 0: none (env SIMULATOR_MEAN_FAULT_INTERVAL_S)",
        )
        parser.add_argument(
            "--first-fault",
            type=float,
            default=_env_float("SIMULATOR_FIRST_FAULT_S", 60.0),
            help="one charger faults within this many seconds of the start, 0: none (env SIMULATOR_FIRST_FAULT_S)",
        )
        parser.add_argument("--fault-probability", type=float, default=0.03, help="chance a session ends in a fault")
        parser.add_argument("--mean-fault", type=float, default=300.0, help="mean self-clearing fault, seconds")
        parser.add_argument("--reboot-time", type=float, default=10.0, help="seconds a reset keeps a charger offline")
        parser.add_argument("--ramp-up", type=float, default=5.0, help="spread the first connections over seconds")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--duration", type=float, default=None, help="seconds; default: until Ctrl-C")

    def handle(self, *args, **options):
        if options["count"] < 1:
            raise CommandError("--count must be at least 1")
        for name in ("session_probability", "fault_probability"):
            if not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        for name in ("meter_interval", "mean_idle", "mean_session", "mean_fault"):
            if options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive")
        for name in ("mean_fault_interval", "first_fault"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        self._configure_logging(options["verbosity"])
        config = SimConfig(
            password=options["password"],
            id_tags=[tag.strip() for tag in options["id_tags"].split(",") if tag.strip()],
            heartbeat_interval_override=options["heartbeat_interval"],
            meter_interval=options["meter_interval"],
            mean_idle_s=options["mean_idle"],
            session_probability=options["session_probability"],
            mean_session_s=options["mean_session"],
            mean_fault_interval_s=options["mean_fault_interval"],
            first_fault_s=options["first_fault"],
            fault_probability=options["fault_probability"],
            mean_fault_s=options["mean_fault"],
            reboot_s=options["reboot_time"],
            ramp_up_s=options["ramp_up"],
            seed=options["seed"],
        )
        start, prefix = options["start"], options["prefix"]
        identities = [f"{prefix}{n:04d}" for n in range(start, start + options["count"])]
        self.stdout.write(f"simulating {identities[0]}..{identities[-1]} against {options['url']}")
        stats = asyncio.run(self._run(options["url"], identities, config, options["duration"]))
        self.stdout.write(f"stopped: {stats.summary()}")

    async def _run(self, url: str, identities: list[str], config: SimConfig, duration: float | None) -> Stats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Sessions are stopped and connections closed on the way out, not cut off.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def listen(chargers):
            await fault_listen(settings.REDIS_URL, settings.CHANNEL_PREFIX, chargers)

        return await run_fleet(url, identities, config, duration=duration, stop=stop, beside=listen)

    def _configure_logging(self, verbosity: int) -> None:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        sim_logger = logging.getLogger("stations.simulator")
        sim_logger.handlers = [handler]
        sim_logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity >= 1 else logging.WARNING)
        sim_logger.propagate = False
