"""Who may charge: the idTagInfo answered to Authorize, StartTransaction and StopTransaction.

Another app (billing) may register an authoriser that answers from accounts
(blocked, out of credit, a tag already charging); the stations app does not
know it. An authoriser returns None for a tag it does not handle, and then the
stations app's own IdTag rules answer, as they do when none is registered.
"""

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from django.utils import timezone

from stations.models import IdTag, IdTagStatus


class Purpose(StrEnum):
    AUTHORIZE = "authorize"
    START = "start"
    STOP = "stop"


Authoriser = Callable[..., dict | None]
_authorisers: list[Authoriser] = []


def register_authoriser(authoriser: Authoriser) -> None:
    """`authoriser(*, tag, id_tag, station_id, purpose, session_id, now)` returns an
    idTagInfo dict, or None to leave the answer to the IdTag rules. `tag` is the
    IdTag row (None for an unknown tag); `session_id` is the session being
    started or stopped, if it exists already."""
    if authoriser not in _authorisers:
        _authorisers.append(authoriser)


def id_tag_info(
    *,
    id_tag: str,
    station_id: int | None = None,
    purpose: Purpose = Purpose.AUTHORIZE,
    session_id: int | None = None,
    now: datetime | None = None,
) -> dict:
    """The idTagInfo OCPP answers for this tag."""
    now = now or timezone.now()
    tag = IdTag.objects.select_related("parent").filter(id_tag=id_tag).first()
    for authoriser in _authorisers:
        info = authoriser(
            tag=tag, id_tag=id_tag, station_id=station_id, purpose=purpose, session_id=session_id, now=now
        )
        if info is not None:
            return info
    return tag_rules_info(tag, now=now)


def tag_rules_info(tag: IdTag | None, *, now: datetime) -> dict:
    """The answer from the IdTag row alone: its status, expiry and parent."""
    if tag is None:
        return {"status": IdTagStatus.INVALID.value}
    status = tag.status
    if status == IdTagStatus.ACCEPTED and tag.expiry_date and tag.expiry_date <= now:
        status = IdTagStatus.EXPIRED
    info: dict = {"status": str(status)}
    if tag.expiry_date:
        info["expiryDate"] = tag.expiry_date.isoformat()
    if tag.parent:
        info["parentIdTag"] = tag.parent.id_tag
    return info
