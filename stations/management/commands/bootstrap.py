"""Prepare a database for use: roles always; demo data on an empty database."""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from config import roles
from stations.models import ChargingStation, IdTag, Site
from stations.services import demo, registration

DEMO_USERS = {
    "operator": roles.OPERATOR,
    "dispatcher": roles.DISPATCHER,
    "technician": roles.TECHNICIAN,
    "support": roles.SUPPORT_AGENT,
}
DEMO_SITES = [
    ("Harbour Street Garage", "12 Harbour Street", "52.370216", "4.895168", "Europe/Amsterdam"),
    ("Ring Road Services", "Ring Road A10, exit 4", "52.333333", "4.866667", "Europe/Amsterdam"),
]
DEMO_ID_TAGS = ["DEMO-TAG-0001", "DEMO-TAG-0002", "DEMO-TAG-0003", "FLEET-0001"]


class Command(BaseCommand):
    help = "Create the role groups; on an empty database also demo users, sites, stations and ID tags."

    def add_arguments(self, parser):
        parser.add_argument("--stations", type=int, default=int(os.environ.get("SIMULATE_COUNT", "10")))
        parser.add_argument("--roles-only", action="store_true", help="production: the role groups, no demo data")

    def handle(self, *args, stations: int, roles_only: bool, **options):
        roles.ensure_roles()
        if roles_only:
            return
        user_model = get_user_model()
        with transaction.atomic():
            fresh = not user_model.objects.exists()
            password = os.environ.get("DEMO_PASSWORD", "evops-demo")
            if fresh:
                self._demo_users(user_model, password)
            if not ChargingStation.objects.exists():
                self._demo_network(stations)
            if fresh:
                for seeder in demo.demo_seeders():
                    seeder(password=password, log=self.stdout.write)

    def _demo_users(self, user_model, password: str) -> None:
        for username, role in DEMO_USERS.items():
            user = user_model.objects.create_user(username=username, password=password, is_staff=role == roles.OPERATOR)
            user.groups.add(Group.objects.get(name=role))
        self.stdout.write(f"demo users {', '.join(DEMO_USERS)} created (password from DEMO_PASSWORD)")

    def _demo_network(self, count: int) -> None:
        sites = [
            Site.objects.create(name=name, address=address, latitude=lat, longitude=lon, time_zone=tz)
            for name, address, lat, lon, tz in DEMO_SITES
        ]
        password = os.environ.get("SIMULATOR_PASSWORD", "simulator-demo-secret")
        entries = [(f"SIM-{n:04d}", password) for n in range(1, count + 1)]
        registration.stations_register_bulk(entries=entries)
        for index, station in enumerate(ChargingStation.objects.order_by("identity")):
            station.site = sites[index % len(sites)]
            station.save(update_fields=["site"])
        IdTag.objects.bulk_create([IdTag(id_tag=tag, note="demo") for tag in DEMO_ID_TAGS])
        self.stdout.write(f"demo network of {count} stations on {len(sites)} sites created")
