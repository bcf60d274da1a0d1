"""The local authorisation list: the accounts' tags a station may accept while offline.

Each send is a RemoteCommand (SendLocalList) through the stations command
service, so it is recorded with who asked and how the charger answered. The
station's list version and entries move on only when the charger accepts,
so a differential update is always computed against what the charger holds.
"""

from django.db import transaction
from django.utils import timezone

from billing.models import AccountTag, LocalListVersion
from stations.models import ChargingStation, CommandStatus, RemoteCommand
from stations.services import commands
from stations.services.authorisation import Purpose, tag_rules_info

from .accounts import account_refusal

SEND_TIMEOUT_S = 20.0


class LocalListNotSent(ValueError):
    """The list was not sent; the message says why (for the page or admin)."""


class LocalListUnchanged(LocalListNotSent):
    pass


def local_list_entries(*, now=None) -> dict[str, dict]:
    """id tag -> idTagInfo, by the same account rules that answer Authorize."""
    now = now or timezone.now()
    refusals: dict[int, str | None] = {}
    entries = {}
    links = AccountTag.objects.select_related("account", "id_tag__parent").order_by("id_tag__id_tag")
    for link in links:
        info = tag_rules_info(link.id_tag, now=now)
        if info["status"] == "Accepted":
            if link.account_id not in refusals:
                refusals[link.account_id] = account_refusal(link.account, purpose=Purpose.AUTHORIZE)
            if refusals[link.account_id]:
                info["status"] = refusals[link.account_id]
        entries[link.id_tag.id_tag] = info
    return entries


def local_list_payload(*, current: LocalListVersion, entries: dict[str, dict], full: bool) -> dict:
    version = current.version + 1
    if full:
        items = [{"idTag": tag, "idTagInfo": info} for tag, info in sorted(entries.items())]
        return {"listVersion": version, "updateType": "Full", "localAuthorizationList": items}
    previous = current.entries or {}
    items = [{"idTag": tag, "idTagInfo": info} for tag, info in sorted(entries.items()) if previous.get(tag) != info]
    # An entry without idTagInfo removes the tag from the charger's list.
    items += [{"idTag": tag} for tag in sorted(set(previous) - set(entries))]
    return {"listVersion": version, "updateType": "Differential", "localAuthorizationList": items}


def local_list_send(*, station: ChargingStation, full: bool, by) -> RemoteCommand:
    """Send the station its list (all of it, or what changed since the version it holds) and wait
    for the answer; the recorded version moves on only if the charger accepts."""
    current, _ = LocalListVersion.objects.get_or_create(station=station)
    entries = local_list_entries()
    payload = local_list_payload(current=current, entries=entries, full=full)
    if not full and not payload["localAuthorizationList"]:
        raise LocalListUnchanged(f"{station.identity} holds list version {current.version}; nothing changed since")
    person = by if getattr(by, "is_authenticated", False) else None
    try:
        # The one way to ask a charger to act: it checks this person may send the list.
        command = commands.command_request(
            station=station,
            action="SendLocalList",
            payload=payload,
            by=person,
            via="" if person else "billing: local list",
            confirmed=True,
            timeout_s=SEND_TIMEOUT_S,
            wait=True,
        )
    except commands.CommandRefused as exc:
        raise LocalListNotSent(str(exc)) from exc
    if command.status == CommandStatus.ACCEPTED:
        with transaction.atomic():
            # Compare-and-swap on the version: of two sends at once, only the first moves it.
            LocalListVersion.objects.filter(pk=current.pk, version=current.version).update(
                version=payload["listVersion"], entries=entries, updated_at=timezone.now()
            )
    return command
