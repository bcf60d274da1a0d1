"""Demo technicians with territories around the demo sites, for a fresh `make run`."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from config import roles
from workorders.models import Technician

# username, name, skills, vendors certified for, home near the demo sites, territory
DEMO_TECHNICIANS = [
    ("technician", "Tess Visser", "ac dc hv mechanical network", "ACME Power;Voltora;Northwind EV",
     "52.372000", "4.900000", "Amsterdam centre"),
    ("anna", "Anna de Vries", "ac dc hv", "ACME Power;Voltora", "52.335000", "4.870000", "Amsterdam south"),
    ("bram", "Bram Jansen", "ac mechanical network", "Northwind EV", "52.360000", "4.880000", "Amsterdam centre"),
    ("carla", "Carla Smit", "ac dc mechanical", "ACME Power", "52.310000", "4.840000", "Amsterdam south"),
]  # fmt: skip


def demo_technicians_seed(*, password: str, log) -> None:
    user_model = get_user_model()
    technician_group = Group.objects.get(name=roles.TECHNICIAN)
    for username, name, skills, vendors, lat, lon, territory in DEMO_TECHNICIANS:
        first, last = name.split(" ", 1)
        user = user_model.objects.filter(username=username).first()
        user = user or user_model.objects.create_user(username=username, password=password)
        user.first_name, user.last_name = first, last
        user.save(update_fields=["first_name", "last_name"])
        user.groups.add(technician_group)
        Technician.objects.get_or_create(
            user=user,
            defaults={
                "skills": skills.split(), "certifications": vendors.split(";"), "home_latitude": lat,
                "home_longitude": lon, "territory": territory,
            },
        )  # fmt: skip
    log(f"demo technicians {', '.join(t[0] for t in DEMO_TECHNICIANS)} created")
