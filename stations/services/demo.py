"""Demo data for a fresh `make run`: each app seeds its own part.

`bootstrap` creates the demo users and the stations' network, then calls the
seeders other apps registered (AppConfig.ready), so the stations app does not
know what workorders or billing need for a demo.
"""

from collections.abc import Callable

# seeder(password=..., log=...) runs inside bootstrap's transaction on an empty database.
DemoSeeder = Callable[..., None]
_seeders: list[DemoSeeder] = []


def register_demo_seeder(seeder: DemoSeeder) -> None:
    if seeder not in _seeders:
        _seeders.append(seeder)


def demo_seeders() -> list[DemoSeeder]:
    return list(_seeders)
