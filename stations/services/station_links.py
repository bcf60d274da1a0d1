"""Addresses other apps give a station, without stations knowing them.

Support registers the charger's public page (the address its QR code holds) at
start-up (AppConfig.ready); the stations API shows it as `public_url`. With
nothing registered every station's address is None.
"""

from collections.abc import Callable, Iterable

# resolver(stations, request) -> {station id: absolute address}, a fixed number
# of queries however many stations it is given.
PublicUrlResolver = Callable[[list, object], dict[int, str]]
_resolvers: list[PublicUrlResolver] = []


def register_public_url(resolver: PublicUrlResolver) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def public_urls(stations: Iterable, request=None) -> dict[int, str | None]:
    stations = list(stations)
    found: dict[int, str | None] = {station.pk: None for station in stations}
    for resolver in _resolvers:
        for station_id, url in resolver(stations, request).items():
            if station_id in found and url:
                found[station_id] = url
    return found
