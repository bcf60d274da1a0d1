"""Channels in that staff use: logging a phone call, and printing chargers' QR codes."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods, require_POST

from stations.models import ChargingStation, Site
from support.models import ChargerPage, TicketCategory, TicketPriority
from support.services import charger_pages, intake, qr
from support.services.tickets import TicketRefused

LOG_CALL = "support.add_ticket"
VIEW_PAGES = "support.view_chargerpage"
ADD_PAGES = "support.add_chargerpage"
SHEET_PAGE_SIZE = 48  # labels per printed sheet page (A4, three across)
SITES_PAGE_SIZE = 50


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


# --- Phone ------------------------------------------------------------------------


class CallForm(forms.Form):
    station = forms.CharField(label="Charger", max_length=48, required=False, help_text="Its identity, e.g. CP-0042")
    connector = forms.IntegerField(label="Connector", min_value=1, max_value=64, required=False)
    name = forms.CharField(label="Driver's name", max_length=200, required=False)
    email = forms.EmailField(label="Email", max_length=254, required=False)
    phone = forms.RegexField(
        label="Phone",
        regex=r"^\+?[0-9 ()./-]{5,31}$",
        max_length=32,
        required=False,
        error_messages={"invalid": "Enter a phone number: digits, spaces and + ( ) - only."},
    )
    category = forms.ChoiceField(choices=TicketCategory.choices, initial=TicketCategory.OTHER)
    priority = forms.ChoiceField(choices=TicketPriority.choices, initial=TicketPriority.P3)
    summary = forms.CharField(
        label="What the driver said, what you did", max_length=5000, widget=forms.Textarea(attrs={"rows": 5})
    )
    solved = forms.BooleanField(label="Solved during the call", required=False)

    def clean_station(self):
        identity = self.cleaned_data["station"].strip()
        if not identity:
            return None
        station = ChargingStation.objects.filter(identity=identity).first()
        if station is None:
            raise forms.ValidationError(f"No charger is called {identity!r}.")
        return station

    def clean(self):
        data = super().clean()
        if data.get("connector") and not data.get("station") and not self.has_error("station"):
            self.add_error("connector", "Name the charger too.")
        return data


def _ticket_page(ticket) -> str | None:
    """The console's page of the ticket, where the agent goes on from here."""
    for name in ("support:ticket-detail", "support:ticket"):
        try:
            return reverse(name, args=[ticket.pk])
        except NoReverseMatch:
            continue
    return None


@login_required
@require_http_methods(["GET", "POST"])
def call_log(request):
    _require(request, LOG_CALL)
    if request.method == "POST":
        form = CallForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = intake.phone_call_log(
                    by=request.user,
                    summary=data["summary"],
                    category=data["category"],
                    priority=data["priority"],
                    station=data["station"],
                    connector_id=data["connector"],
                    name=data["name"],
                    email=data["email"],
                    phone=data["phone"],
                    solved=data["solved"],
                )
            except TicketRefused as exc:
                form.add_error(None, str(exc))
            else:
                next_page = _ticket_page(ticket)
                if next_page:
                    return redirect(next_page)
                return render(request, "support/intake/call_logged.html", {"ticket": ticket})
        return render(request, "support/intake/call_form.html", {"form": form}, status=400)
    initial = {key: request.GET.get(key, "")[:200] for key in ("station", "name", "email", "phone")}
    station = ChargingStation.objects.filter(identity=initial["station"]).first() if initial["station"] else None
    return render(request, "support/intake/call_form.html", {"form": CallForm(initial=initial), "station": station})


# --- QR codes -----------------------------------------------------------------------


@login_required
def qr_sites(request):
    """Sites with how many chargers have a printable code; a button gives the others one."""
    _require(request, VIEW_PAGES)
    sites = Site.objects.annotate(
        charger_count=Count("stations", distinct=True),
        missing=Count("stations", filter=Q(stations__public_page__isnull=True), distinct=True),
    ).order_by("name")
    page_obj = Paginator(sites, SITES_PAGE_SIZE).get_page(request.GET.get("page"))
    unsited = ChargingStation.objects.filter(site__isnull=True).aggregate(
        total=Count("id"), missing=Count("id", filter=Q(public_page__isnull=True))
    )
    return render(
        request,
        "support/intake/qr_sites.html",
        {
            "page_obj": page_obj,
            "sites": page_obj.object_list,
            "is_paginated": page_obj.has_other_pages(),
            "noun": "sites",
            "unsited": unsited,
        },
    )


@login_required
@require_POST
def qr_pages_create(request):
    _require(request, ADD_PAGES)
    made = charger_pages.charger_pages_create_missing()
    messages.info(request, f"{made} charger{'s' if made != 1 else ''} got a page and a QR code.")
    return redirect("support:qr-sites")


@login_required
def qr_sheet(request, site_id: int):
    """A printable sheet of a site's chargers' QR codes (site 0: chargers without a site)."""
    _require(request, VIEW_PAGES)
    site = None if site_id == 0 else get_object_or_404(Site, pk=site_id)
    pages = ChargerPage.objects.select_related("station").order_by("station__identity")
    pages = pages.filter(station__site__isnull=True) if site is None else pages.filter(station__site=site)
    page_obj = Paginator(pages, SHEET_PAGE_SIZE).get_page(request.GET.get("page"))
    labels = [
        {
            "identity": page.station.identity,
            "url": (url := charger_pages.page_url(page.code, request)),
            "short": charger_pages.short_address(url),
        }
        for page in page_obj.object_list
    ]
    stations = ChargingStation.objects.filter(site=site) if site else ChargingStation.objects.filter(site__isnull=True)
    missing = stations.filter(public_page__isnull=True).count()
    return render(
        request,
        "support/intake/qr_sheet.html",
        {
            "site": site,
            "labels": labels,
            "missing": missing,
            "page_obj": page_obj,
            "is_paginated": page_obj.has_other_pages(),
            "noun": "chargers",
        },
    )


@login_required
def qr_station_svg(request, identity: str):
    """The QR code of a charger's page, as an SVG to print or to place on a label."""
    _require(request, VIEW_PAGES)
    page = ChargerPage.objects.filter(station__identity=identity).first()
    if page is None:
        raise Http404("This charger has no public page yet: create the missing pages first.")
    response = HttpResponse(qr.qr_svg(charger_pages.page_url(page.code, request)), content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="qr-{charger_pages.safe_filename(identity)}.svg"'
    return response
