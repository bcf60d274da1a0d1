"""Merging a duplicate ticket into another, from the console's ticket page
(templates/support/console/_merge.html)."""

import re

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from support.models import Ticket
from support.services.merge import ticket_merge
from support.services.tickets import TicketRefused

REFERENCE = re.compile(r"^\s*(?:T-?)?0*(\d{1,9})\s*$", re.IGNORECASE)


class MergeForm(forms.Form):
    into = forms.CharField(max_length=12)

    def clean_into(self) -> Ticket:
        found = REFERENCE.match(self.cleaned_data["into"])
        ticket = Ticket.objects.filter(pk=int(found.group(1))).first() if found else None
        if ticket is None:
            raise forms.ValidationError("No ticket with that reference (like T-000123).")
        return ticket


@login_required
@permission_required("support.work_ticket", raise_exception=True)
@require_http_methods(["GET", "POST"])
def ticket_merge_view(request, ticket_id: int):
    ticket = get_object_or_404(Ticket.objects.select_related("merged_into"), pk=ticket_id)
    form = MergeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            into = ticket_merge(source=ticket, into=form.cleaned_data["into"], by=request.user)
        except TicketRefused as refused:
            form.add_error("into", str(refused))
        else:
            messages.success(request, f"{ticket.reference} was merged into {into.reference}.")
            target = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
                target = "/"
            return redirect(target)
    status = 400 if request.method == "POST" else 200
    return render(request, "support/console/merge.html", {"ticket": ticket, "merge_form": form}, status=status)
