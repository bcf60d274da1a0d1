"""What the pages of every audience share."""

from datetime import datetime, timedelta

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from config.roles import PortalPermissionMixin
from workorders.models import RemoteStep, WorkOrder
from workorders.selectors import workorders as selectors
from workorders.services import fieldwork

PAGE_SIZE = 50


def problem(request, message: str, *, back: str, status: int = 400):
    """A refusal a person can read on a phone, with the way back."""
    return render(request, "workorders/problem.html", {"message": message, "back": back}, status=status)


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(";") if part.strip()]


def playbook_context(entry) -> dict:
    """A playbook entry as the order and incident pages show it."""
    return {
        "playbook": entry,
        "playbook_field_steps": split(entry.field_steps) if entry else [],
        "playbook_remote_steps": [RemoteStep(s).label for s in entry.remote_steps if s in RemoteStep.values]
        if entry
        else [],
    }


def duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _parse_time(value):
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def diagnosis(order: WorkOrder) -> dict:
    """The stored diagnosis, shaped for reading: steps and parts as lists, step names spelled out."""
    raw = order.diagnosis or {}
    tried = []
    for step in raw.get("remote_steps_tried", []):
        value = step.get("step", "")
        label = RemoteStep(value).label if value in RemoteStep.values else value
        tried.append({**step, "label": label, "at": _parse_time(step.get("at"))})
    return {
        **raw,
        "codes": [c for c in (raw.get("error_code"), raw.get("vendor_error_code")) if c and c != "NoError"],
        "field_steps_list": split(raw.get("field_steps", "")),
        "likely_parts_list": split(raw.get("likely_parts", "")),
        "remote_steps_tried": tried,
    }


class WorkOrderMixin(PortalPermissionMixin):
    """A work order its technician, a dispatcher or an operator may see; 404 for anyone else's."""

    permission_required = "workorders.view_workorder"

    def get_order(self) -> WorkOrder:
        order = selectors.work_order_for_page(self.kwargs["pk"])
        if order is None or not fieldwork.can_view(self.request.user, order):
            raise Http404("No such work order")
        return order

    def detail_url(self, order: WorkOrder, anchor: str = "") -> str:
        return reverse("workorders:detail", args=[order.pk]) + (f"#{anchor}" if anchor else "")
