"""The agent's console: the queue, and a ticket worked beside its charger and its driver.

Views check the permission, read through support.selectors, write through
support.services, and answer a refused request 400 in the page's own layout
with what the agent typed kept.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing.views.common import paginate, portal_permission
from support import selectors
from support.forms import (
    CommandActionForm,
    EscalateForm,
    QueueFilterForm,
    RefundForm,
    ReplyForm,
    TicketFieldsForm,
)
from support.models import MessageKind, Ticket, TicketChannel
from support.services import actions, sla, troubleshooting
from support.services.tickets import TicketRefused, ticket_message_add, ticket_move

WORK = "support.work_ticket"
PAGE_SIZE = 50


# --- The queue --------------------------------------------------------------------------


def _queue_context(request) -> dict:
    sites = selectors.queue_sites()
    form = QueueFilterForm(request.GET or None, sites=sites)
    filters = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    context = paginate(request, selectors.ticket_queue(user=request.user, filters=filters, now=now), per_page=PAGE_SIZE)
    context["rows"] = [(t, sla.sla_state(t, now)) for t in context["rows"]]
    context.update(form=form, noun="tickets", live_query=request.GET.urlencode())
    return context


@require_GET
@portal_permission(WORK)
def queue(request):
    context = _queue_context(request)
    status = 400 if context["form"].errors else 200
    return render(request, "support/console/queue.html", context, status=status)


@require_GET
@portal_permission(WORK)
def queue_live(request):
    return render(request, "support/console/_queue_rows.html", _queue_context(request))


# --- A ticket ------------------------------------------------------------------------------


def _ticket(pk: int) -> Ticket:
    ticket = selectors.ticket_for_page(pk)
    if ticket is None:
        raise Http404("No such ticket")
    return ticket


def _fields_form(ticket: Ticket, data=None) -> TicketFieldsForm:
    initial = {
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "assignee": ticket.assignee_id,
        "tags": ", ".join(ticket.tags or []),
    }
    return TicketFieldsForm(data, initial=initial, agents=list(actions.agents()))


def _live_context(ticket: Ticket) -> dict:
    live = selectors.charger_live(ticket)
    status = selectors.ticket_connector_status(ticket, live)
    return {
        "target_connector": selectors.ticket_target_connector(ticket, live),
        "ticket": ticket,
        "live": live,
        "connector_status": status,
        "steps": troubleshooting.steps_for(category=ticket.category, connector_status=status),
        "ticket_actions": selectors.ticket_actions(ticket),
    }


def _page(request, ticket: Ticket, *, status: int = 200, error: str = "", **forms):
    now = timezone.now()
    tags = selectors.driver_tags(ticket.requester)
    sessions = selectors.driver_sessions(tags)
    macros = selectors.macros_for(ticket)
    values = selectors.macro_values(ticket, sessions)
    refundable = actions.refundable_sessions(ticket)
    context = {
        **_live_context(ticket),
        "sla": sla.sla_state(ticket, now),
        "conversation": selectors.ticket_conversation(ticket),
        "timeline": selectors.ticket_timeline(ticket),
        "tags": selectors.tag_verdicts(tags, now=now),
        "sessions": sessions,
        "attempts": selectors.authorisation_attempts(tags, now=now),
        "macros_json": [{"id": m.pk, "name": m.name, "body": selectors.macro_render(m.body, values)} for m in macros],
        "reply_form": forms.get("reply_form") or ReplyForm(macros=macros),
        "fields_form": forms.get("fields_form") or _fields_form(ticket),
        "command_form": forms.get("command_form") or CommandActionForm(),
        "refund_form": forms.get("refund_form") or RefundForm(sessions=refundable),
        "escalate_form": forms.get("escalate_form") or EscalateForm(),
        "refundable": refundable,
        "error": error,
        "error_for": forms.get("error_for", ""),
    }
    return render(request, "support/console/ticket.html", context, status=status)


@require_GET
@portal_permission(WORK)
def ticket_detail(request, pk: int):
    return _page(request, _ticket(pk))


@require_GET
@portal_permission(WORK)
def ticket_live(request, pk: int):
    """The charger beside the ticket, the steps and the actions' outcomes: refreshed live."""
    return render(request, "support/console/_ticket_live.html", _live_context(_ticket(pk)))


def _back(ticket: Ticket, anchor: str = ""):
    return redirect(reverse("support:ticket", args=[ticket.pk]) + (f"#{anchor}" if anchor else ""))


@require_POST
@portal_permission(WORK)
def ticket_reply(request, pk: int):
    ticket = _ticket(pk)
    macros = selectors.macros_for(ticket)
    form = ReplyForm(request.POST, macros=macros)
    if not form.is_valid():
        return _page(request, ticket, status=400, reply_form=form, error_for="reply")
    data = form.cleaned_data
    if data["insert"]:
        # Without JavaScript: the macro goes into the text box, to edit before sending.
        macro = next((m for m in macros if m.pk == data["macro"]), None)
        if macro is None:
            form.add_error("macro", "Choose a macro to insert.")
            return _page(request, ticket, status=400, reply_form=form, error_for="reply")
        values = selectors.macro_values(ticket, selectors.driver_sessions(selectors.driver_tags(ticket.requester)))
        body = "\n\n".join(p for p in (data["body"].strip(), selectors.macro_render(macro.body, values)) if p)
        filled = ReplyForm(initial={"kind": data["kind"], "body": body}, macros=macros)
        return _page(request, ticket, reply_form=filled)
    kind = MessageKind.NOTE if data["kind"] == "note" else MessageKind.REPLY
    try:
        ticket_message_add(
            ticket=ticket, kind=kind, body=data["body"], channel=_reply_channel(ticket), author=request.user
        )
    except TicketRefused as exc:
        return _page(request, ticket, status=400, reply_form=form, error=str(exc), error_for="reply")
    messages.success(request, "Note added." if kind == MessageKind.NOTE else "Reply sent to the driver.")
    return _back(ticket, "conversation")


def _reply_channel(ticket: Ticket) -> str:
    # A reply goes back the way the driver came; a form or QR report is answered by mail.
    if ticket.channel in (TicketChannel.CHAT, TicketChannel.PHONE):
        return ticket.channel
    return TicketChannel.EMAIL


@require_POST
@portal_permission(WORK)
def ticket_update(request, pk: int):
    ticket = _ticket(pk)
    form = _fields_form(ticket, request.POST)
    if not form.is_valid():
        return _page(request, ticket, status=400, fields_form=form, error_for="fields")
    data = form.cleaned_data
    try:
        tags = actions.clean_tags(data["tags"])
        assignee = None
        if data["assignee"] is not None:
            assignee = get_user_model().objects.filter(pk=data["assignee"]).first()
        if data["priority"] != ticket.priority:
            actions.ticket_priority_set(ticket=ticket, priority=data["priority"], by=request.user)
        if data["category"] != ticket.category:
            actions.ticket_category_set(ticket=ticket, category=data["category"], by=request.user)
        if data["assignee"] != ticket.assignee_id:
            actions.ticket_assign(ticket=ticket, assignee=assignee, by=request.user)
        actions.ticket_tags_set(ticket=ticket, tags=tags, by=request.user)
        if data["status"] != ticket.status:
            ticket_move(ticket=ticket, to=data["status"], by=request.user, reason="changed in the console")
    except TicketRefused as exc:
        return _page(request, _ticket(pk), status=400, fields_form=form, error=str(exc), error_for="fields")
    messages.success(request, "Ticket updated.")
    return _back(ticket)


@require_POST
@portal_permission(WORK)
def ticket_command(request, pk: int):
    ticket = _ticket(pk)
    form = CommandActionForm(request.POST)
    if not form.is_valid():
        return _page(request, ticket, status=400, command_form=form, error_for="command")
    data = form.cleaned_data
    try:
        action = actions.ticket_command_send(
            ticket=ticket,
            kind=data["kind"],
            by=request.user,
            connector_id=data["connector"] or None,
            id_tag=data["id_tag"].strip(),
            confirmed=data["confirm"],
        )
    except TicketRefused as exc:
        return _page(request, ticket, status=400, command_form=form, error=str(exc), error_for="command")
    messages.success(
        request, f"{action.get_kind_display()} sent to {ticket.station.identity}; its outcome shows below."
    )
    return _back(ticket, "actions")


@require_POST
@portal_permission(WORK, "billing.add_refund")
def ticket_refund(request, pk: int):
    ticket = _ticket(pk)
    sessions = actions.refundable_sessions(ticket)
    form = RefundForm(request.POST, sessions=sessions)
    if not form.is_valid():
        return _page(request, ticket, status=400, refund_form=form, error_for="refund")
    data = form.cleaned_data
    try:
        actions.ticket_refund(
            ticket=ticket,
            session=form.sessions[data["session"]],
            amount=data["amount"],
            reason=data["reason"],
            by=request.user,
            key=data["key"],
        )
    except TicketRefused as exc:
        return _page(request, ticket, status=400, refund_form=form, error=str(exc), error_for="refund")
    messages.success(request, f"Refunded {data['amount']}.")
    return _back(ticket, "actions")


@require_POST
@portal_permission(WORK)
def ticket_escalate(request, pk: int):
    ticket = _ticket(pk)
    form = EscalateForm(request.POST)
    if not form.is_valid():
        return _page(request, ticket, status=400, escalate_form=form, error_for="escalate")
    try:
        action = actions.ticket_escalate(ticket=ticket, by=request.user, note=form.cleaned_data["note"])
    except TicketRefused as exc:
        return _page(request, ticket, status=400, escalate_form=form, error=str(exc), error_for="escalate")
    if "work_order" in action.detail and "incident" not in action.detail:
        messages.success(
            request, f"Work order WO-{action.detail['work_order']} created; the ticket waits on field work."
        )
    else:
        messages.success(request, "Joined the charger's open incident; the ticket waits on field work.")
    return _back(ticket)
