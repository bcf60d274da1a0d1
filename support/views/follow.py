"""The driver's own ticket through its signed link (/support/t/<token>/), and the
rating links of the resolution mail. No account: the token is the key, names
one ticket, and anything else is a 404. Only what the driver may see: their
messages and our public replies, never internal notes or system rows."""

from django import forms
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from support.models import MessageKind, Satisfaction, Ticket, TicketChannel, TicketEvent, TicketStatus
from support.services import chat, links
from support.services.tickets import TicketRefused, ticket_message_add

REPLY_MAX = 5000
COMMENT_MAX = 2000


class FollowReplyForm(forms.Form):
    body = forms.CharField(label="Your message", max_length=REPLY_MAX, widget=forms.Textarea(attrs={"rows": 4}))


class RatingCommentForm(forms.Form):
    comment = forms.CharField(
        label="Anything to add? (optional)", max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


def _ticket_or_404(token: str) -> Ticket:
    ticket = links.ticket_from_token(token)
    if ticket is None:
        raise Http404("no such ticket")
    return ticket


def _may_reply(ticket: Ticket) -> bool:
    return ticket.status != TicketStatus.CLOSED and not ticket.merged_into_id


@never_cache
@require_http_methods(["GET", "POST"])
def follow(request, token: str):
    ticket = _ticket_or_404(token)
    form = FollowReplyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not _may_reply(ticket):
            form.add_error(None, "This request is closed: open a new one from the charger's page.")
        elif form.is_valid():
            try:
                # The public pages' channel: the driver wrote on our site, not by mail or chat.
                ticket_message_add(
                    ticket=ticket,
                    kind=MessageKind.DRIVER,
                    body=form.cleaned_data["body"],
                    channel=TicketChannel.QR_PAGE,
                )
            except TicketRefused as refused:
                form.add_error("body", str(refused))
            else:
                return HttpResponseRedirect(request.path + "?sent=1#conversation")
        status = 400
    conversation = (
        ticket.messages.filter(kind__in=chat.PUBLIC_KINDS).select_related("author").order_by("created_at", "id")
    )
    return render(
        request,
        "support/follow/ticket.html",
        {
            "ticket": ticket,
            "conversation": [chat.message_payload(m) | {"created_at": m.created_at} for m in conversation],
            "form": form,
            "may_reply": _may_reply(ticket),
            "sent": request.GET.get("sent") == "1" and status == 200,
            "rated": ticket.satisfaction,
            "rating_links": ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and not ticket.satisfaction,
            "token": token,
        },
        status=status,
    )


def _rate(ticket: Ticket, rating: str) -> bool:
    """Stored once: the first click counts, a later one (either link) changes nothing."""
    now = timezone.now()
    if not Ticket.objects.filter(pk=ticket.pk, satisfaction="").update(satisfaction=rating, satisfaction_at=now):
        return False
    TicketEvent.objects.create(ticket=ticket, kind="rated", detail={"rating": rating})
    ticket.satisfaction, ticket.satisfaction_at = rating, now
    return True


def _comment(ticket: Ticket, comment: str) -> bool:
    if not Ticket.objects.filter(pk=ticket.pk, satisfaction_comment="").update(satisfaction_comment=comment):
        return False
    TicketEvent.objects.create(ticket=ticket, kind="rating_comment", detail={"length": len(comment)})
    ticket.satisfaction_comment = comment
    return True


@never_cache
@require_http_methods(["GET", "POST"])
def rate(request, token: str, rating: str):
    ticket = _ticket_or_404(token)
    if rating not in Satisfaction.values:
        raise Http404("no such rating")
    if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return render(
            request, "support/follow/rate.html", {"ticket": ticket, "token": token, "not_yet": True}, status=409
        )
    # One click from the mail rates; the comment form comes after.
    _rate(ticket, rating)
    form = RatingCommentForm(request.POST or None)
    status = 200
    commented = False
    if request.method == "POST":
        if form.is_valid() and _comment(ticket, form.cleaned_data["comment"].strip()):
            commented = True
        elif form.is_valid():
            form.add_error(None, "A comment was sent already: thank you.")
            status = 400
        else:
            status = 400
    return render(
        request,
        "support/follow/rate.html",
        {
            "ticket": ticket,
            "token": token,
            "rating": rating,
            "form": form,
            "commented": commented or bool(ticket.satisfaction_comment and request.method == "GET"),
        },
        status=status,
    )
