"""Work on a work order through the portal: who may see and change it, the status
moves each role may make, on-site commands, and photos from the field.

Technicians work on their own orders only; dispatchers and operators on all.
Verification stays the charger's (verification.py), so nobody moves an order
to `verified` by hand.
"""

import uuid

from django.core.files.uploadedfile import UploadedFile

from stations.models import ChargingStation, Connector
from stations.services import command_access, command_catalogue, commands
from workorders.models import OPEN_WORK_ORDER_STATUSES, WorkOrder, WorkOrderChange, WorkOrderPhoto, WorkOrderStatus

from . import lifecycle, verification

S = WorkOrderStatus
VIEW_OWN = "workorders.view_workorder"
VIEW_ALL = "workorders.view_all_workorders"
CHANGE_ANY = "workorders.change_workorder"

# What each role may move an order to (and only along lifecycle.TRANSITIONS).
# A technician works the order in the field; assigning goes through dispatch,
# and cancelling or closing is the dispatcher's call.
TECHNICIAN_MOVES = frozenset({S.EN_ROUTE, S.ON_SITE, S.ON_HOLD, S.RESOLVED})
DISPATCHER_MOVES = frozenset({S.EN_ROUTE, S.ON_SITE, S.ON_HOLD, S.RESOLVED, S.CANCELLED, S.CLOSED})
VIA = "portal"

MAX_PHOTO_BYTES = 15 * 1024 * 1024


class NotAllowed(PermissionError):
    pass


class PhotoRefused(ValueError):
    pass


def is_own(user, work_order: WorkOrder) -> bool:
    """The order is assigned to this user (load it with select_related("technician"))."""
    return work_order.technician_id is not None and work_order.technician.user_id == user.pk


def can_view(user, work_order: WorkOrder) -> bool:
    if not user.is_authenticated:
        return False
    return user.has_perm(VIEW_ALL) or (user.has_perm(VIEW_OWN) and is_own(user, work_order))


def can_work_on(user, work_order: WorkOrder) -> bool:
    return user.is_authenticated and (
        user.has_perm(CHANGE_ANY) or (user.has_perm(VIEW_OWN) and is_own(user, work_order))
    )


def can_record(user, work_order: WorkOrder) -> bool:
    """Checklist, notes, parts and photos: while the order is open."""
    return can_work_on(user, work_order) and work_order.status in OPEN_WORK_ORDER_STATUSES


def _moves_allowed(user, work_order: WorkOrder) -> frozenset[str]:
    if user.has_perm(CHANGE_ANY):
        return DISPATCHER_MOVES
    if can_work_on(user, work_order):
        return TECHNICIAN_MOVES
    return frozenset()


def moves_for(*, user, work_order: WorkOrder) -> list[str]:
    """The statuses this user may move this order to now, in lifecycle order."""
    allowed = _moves_allowed(user, work_order) & lifecycle.TRANSITIONS[work_order.status]
    return [status for status in S.values if status in allowed]


def workorder_move(*, work_order: WorkOrder, to: str, by, resolution_code: str = "", note: str = "") -> WorkOrder:
    """Move an order as `by` asks: refused (NotAllowed) when the role may not make
    that move, refused (IllegalTransition) when the lifecycle does not allow it.
    Resolving needs a resolution code and is then checked with the charger."""
    if to not in S.values:
        raise lifecycle.IllegalTransition(f"{to!r} is not a work order status")
    if to not in _moves_allowed(by, work_order):
        raise NotAllowed(f"you may not move a work order to {S(to).label.lower()}")
    if to not in lifecycle.TRANSITIONS[work_order.status]:
        # The lifecycle says so too; asking first names the move before the resolution code.
        raise lifecycle.IllegalTransition(
            f"a work order cannot go from {S(work_order.status).label.lower()} to {S(to).label.lower()}"
        )
    if to == S.RESOLVED:
        return verification.workorder_resolve(work_order=work_order, by=by, resolution_code=resolution_code.strip())
    return lifecycle.workorder_transition(work_order=work_order, to=to, by=by, via=VIA, note=note)


# The work order's buttons are the catalogue's quick commands (same keys, labels and payloads).
OnsiteCommand = command_catalogue.QuickCommand


def onsite_commands(*, work_order: WorkOrder, connectors: list[Connector]) -> list[OnsiteCommand]:
    """The on-site commands for the order's station, one button each.

    Availability and status act on the order's connector when it names one, else the whole station.
    """
    return command_catalogue.quick_commands(
        connector_ids=[c.connector_id for c in connectors],
        target=work_order.connector.connector_id if work_order.connector_id else 0,
        actions=command_catalogue.ONSITE_ACTIONS,
    )


def onsite_commands_allowed(*, user, work_order: WorkOrder, connectors: list[Connector]) -> list[OnsiteCommand]:
    station: ChargingStation = work_order.station
    buttons = onsite_commands(work_order=work_order, connectors=connectors)
    allowed = set(command_access.allowed_actions(user, station, {b.action for b in buttons}))
    return [b for b in buttons if b.action in allowed]


def onsite_command_send(*, work_order: WorkOrder, key: str, by, confirmed: bool):
    """Send one of the order's on-site commands to its station; the outcome arrives later.

    Refusals are the command service's; one of permission is raised as NotAllowed,
    the others as commands.CommandRefused."""
    connectors = list(work_order.station.connectors.order_by("connector_id"))
    button = next((b for b in onsite_commands(work_order=work_order, connectors=connectors) if b.key == key), None)
    if button is None:
        raise commands.CommandRefused(f"no on-site command {key!r} for this station")
    try:
        return commands.command_request(
            station=work_order.station,
            action=button.action,
            payload=button.payload,
            by=by,
            confirmed=confirmed,
            via=f"work order {work_order.pk}",
        )
    except commands.CommandRefused as exc:
        if exc.forbidden:
            raise NotAllowed(str(exc)) from None
        raise


# Leading bytes of the image formats a phone camera produces (and GIF).
def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "heic"
    return None


PHOTO_CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
}


def workorder_photo_add(*, work_order: WorkOrder, by, upload: UploadedFile) -> WorkOrderPhoto:
    """Keep a photo from the field. Only real images are stored, under a name of our own
    (never the uploaded one), so a stored file cannot be served as a page."""
    if not can_record(by, work_order):
        raise NotAllowed("photos can be added to your own open work orders only")
    if upload.size > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"the photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    head = upload.read(16)
    upload.seek(0)
    kind = _image_kind(head)
    if kind is None:
        raise PhotoRefused("that file is not a JPEG, PNG, WebP, GIF or HEIC image")
    photo = WorkOrderPhoto(work_order=work_order, uploaded_by=by)
    photo.image.save(f"wo{work_order.pk}-{uuid.uuid4().hex[:12]}.{kind}", upload, save=True)
    lifecycle.workorder_event_record(work_order=work_order, change=WorkOrderChange.PHOTO, by=by, via=VIA, note="added")
    return photo


def photo_content_type(photo: WorkOrderPhoto) -> str:
    return PHOTO_CONTENT_TYPES.get(photo.image.name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
