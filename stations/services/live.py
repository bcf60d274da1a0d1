"""Pushes to the portal's live pages, sent after the transaction commits.

Pages listen on one group and re-fetch what changed; a push carries ids only,
never data a listener might not be allowed to see.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

STATIONS_GROUP = "live.stations"


def station_changed(station_id: int) -> None:
    transaction.on_commit(lambda: _send(STATIONS_GROUP, {"type": "station.changed", "station_id": station_id}))


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a page missing one refresh must never fail a charger's message
        logger.warning("live push to %s failed", group, exc_info=True)
