"""Prepare a database for use: roles always; demo data on an empty database."""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from config import roles
from stations.models import ChargingStation, IdTag, Site
from stations.services import registration

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
# username, name, skills, vendors certified for, home near the demo sites, territory
DEMO_TECHNICIANS = [
    ("technician", "Tess Visser", "ac dc hv mechanical network", "ACME Power;Voltora;Northwind EV",
     "52.372000", "4.900000", "Amsterdam centre"),
    ("anna", "Anna de Vries", "ac dc hv", "ACME Power;Voltora", "52.335000", "4.870000", "Amsterdam south"),
    ("bram", "Bram Jansen", "ac mechanical network", "Northwind EV", "52.360000", "4.880000", "Amsterdam centre"),
    ("carla", "Carla Smit", "ac dc mechanical", "ACME Power", "52.310000", "4.840000", "Amsterdam south"),
]  # fmt: skip


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
            if not user_model.objects.exists():
                self._demo_users(user_model)
            if not ChargingStation.objects.exists():
                self._demo_network(stations)

    def _demo_users(self, user_model) -> None:
        password = os.environ.get("DEMO_PASSWORD", "evops-demo")
        for username, role in DEMO_USERS.items():
            user = user_model.objects.create_user(username=username, password=password, is_staff=role == roles.OPERATOR)
            user.groups.add(Group.objects.get(name=role))
        from workorders.models import Technician

        technician_group = Group.objects.get(name=roles.TECHNICIAN)
        for username, name, skills, vendors, lat, lon, territory in DEMO_TECHNICIANS:
            first, last = name.split(" ", 1)
            user = user_model.objects.filter(username=username).first()
            user = user or user_model.objects.create_user(username=username, password=password)
            user.first_name, user.last_name = first, last
            user.save(update_fields=["first_name", "last_name"])
            user.groups.add(technician_group)
            Technician.objects.create(
                user=user, skills=skills.split(), certifications=vendors.split(";"), home_latitude=lat,
                home_longitude=lon, territory=territory,
            )  # fmt: skip
        usernames = dict.fromkeys([*DEMO_USERS, *(t[0] for t in DEMO_TECHNICIANS)])
        self.stdout.write(f"demo users {', '.join(usernames)} created (password from DEMO_PASSWORD)")

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
