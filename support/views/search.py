"""Finding a driver: by ID tag, email, phone, transaction id or charger identity."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.views.common import portal_permission
from support import selectors
from support.forms import DriverSearchForm


@require_GET
@portal_permission("support.work_ticket")
def driver_search(request):
    form = DriverSearchForm(request.GET or None)
    result = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            result = selectors.driver_search(form.cleaned_data["q"])
        else:
            status = 400
    return render(request, "support/console/search.html", {"form": form, "result": result}, status=status)
