"""The configuration a station reports, with the history of every change."""

from datetime import datetime

from django.db import transaction

from stations.models import ConfigurationChange, ConfigurationKey, RemoteCommand


def configuration_reported(
    *, station_id: int, keys: list[dict], command: RemoteCommand | None, now: datetime
) -> list[ConfigurationChange]:
    """Store a GetConfiguration answer; a key whose value differs gets a history row."""
    changes = []
    with transaction.atomic():
        known = {c.key: c for c in ConfigurationKey.objects.select_for_update().filter(station_id=station_id)}
        for entry in keys:
            key, value, readonly = entry["key"], entry.get("value"), bool(entry.get("readonly", False))
            current = known.get(key)
            if current is None:
                ConfigurationKey.objects.create(
                    station_id=station_id, key=key, value=value, readonly=readonly, reported_at=now
                )
                changes.append(ConfigurationChange(station_id=station_id, key=key, old_value=None, new_value=value))
            else:
                if current.value != value:
                    changes.append(
                        ConfigurationChange(station_id=station_id, key=key, old_value=current.value, new_value=value)
                    )
                ConfigurationKey.objects.filter(pk=current.pk).update(value=value, readonly=readonly, reported_at=now)
        for change in changes:
            change.command = command
            change.changed_at = now
        ConfigurationChange.objects.bulk_create(changes)
    return changes


def configuration_changed(
    *, station_id: int, key: str, value: str, command: RemoteCommand | None, now: datetime
) -> ConfigurationChange | None:
    """A ChangeConfiguration the station accepted."""
    with transaction.atomic():
        current = ConfigurationKey.objects.select_for_update().filter(station_id=station_id, key=key).first()
        old = current.value if current else None
        if current is None:
            ConfigurationKey.objects.create(station_id=station_id, key=key, value=value, reported_at=now)
        else:
            ConfigurationKey.objects.filter(pk=current.pk).update(value=value, reported_at=now)
        if old == value:
            return None
        return ConfigurationChange.objects.create(
            station_id=station_id, key=key, old_value=old, new_value=value, command=command, changed_at=now
        )
