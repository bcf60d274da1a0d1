"""A charger's public page (/c/<code>/): no account, phone first, only what a driver may see.

Live status per connector, "Report a problem" (a ticket on this charger) and
"Tell me when it's available". Reports and watches are rate-limited per client
address and per charger; a bad input is answered 400 on the same page with
everything typed kept.
"""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.core import is_ratelimited
from PIL import Image, UnidentifiedImageError

from support.models import ChargerPage, TicketCategory
from support.services import charger_pages, watches
from support.services.tickets import TicketRefused

PHOTO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# A photo a phone takes is well under this; a bigger image is a decompression bomb.
PHOTO_MAX_PIXELS = 50_000_000
DESCRIPTION_MAX = 5000


class ReportForm(forms.Form):
    category = forms.ChoiceField(label="What is wrong?", choices=TicketCategory.choices)
    connector = forms.TypedChoiceField(label="Which connector?", coerce=int, required=False, empty_value=None)
    description = forms.CharField(
        label="Describe the problem", max_length=DESCRIPTION_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )
    photo = forms.FileField(label="Photo (optional)", required=False)
    name = forms.CharField(label="Your name", max_length=200, required=False)
    email = forms.EmailField(label="Email", max_length=254, required=False)
    phone = forms.RegexField(
        label="Phone",
        regex=r"^\+?[0-9 ()./-]{5,31}$",
        max_length=32,
        required=False,
        error_messages={"invalid": "Enter a phone number: digits, spaces and + ( ) - only."},
    )
    # Hidden from people by the page's style sheet; bots fill every field they find.
    website = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, connectors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = [("", "Not sure / the whole charger")] + [
            (c["number"], f"Connector {c['number']}") for c in connectors
        ]
        self.fields["photo"].widget.attrs["accept"] = "image/jpeg,image/png,image/webp"

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if not photo:
            return None
        limit = settings.SUPPORT_PHOTO_MAX_BYTES
        if photo.size > limit:
            raise ValidationError(f"The photo is larger than {limit // (1024 * 1024)} MB: choose a smaller one.")
        # By what the file holds, not by its name or the browser's say-so.
        try:
            with Image.open(photo) as image:
                image_format = image.format
                width, height = image.size
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise ValidationError("The photo must be a JPEG, PNG or WebP image.") from None
        if image_format not in PHOTO_FORMATS:
            raise ValidationError("The photo must be a JPEG, PNG or WebP image.")
        if width * height > PHOTO_MAX_PIXELS:
            raise ValidationError("The photo has too many pixels: choose a smaller one.")
        photo.seek(0)
        extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[image_format]
        return (f"photo.{extension}", PHOTO_FORMATS[image_format], photo.read())


class WatchForm(forms.Form):
    watch_email = forms.EmailField(label="Your email", max_length=254)


def _page(code: str) -> ChargerPage:
    normalised = charger_pages.normalise_code(code)
    page = ChargerPage.objects.select_related("station__site").filter(code=normalised).first() if normalised else None
    if page is None:
        raise Http404("No charger has this code.")
    return page


def _render(request, page, *, report_form=None, watch_form=None, status=200, **extra):
    view = charger_pages.public_view(page.station)
    context = {
        "page": page,
        **view,
        "report_form": report_form or ReportForm(connectors=view["connectors"]),
        "watch_form": watch_form or WatchForm(),
        "page_url": charger_pages.page_url(page.code, request),
        **extra,
    }
    return render(request, "support/public/charger.html", context, status=status)


def _limited(request, page) -> bool:
    """Counts this POST against the client's address and the charger; True when either is over its rate."""
    by_address = is_ratelimited(
        request, group="support-public-address", key="ip", rate=settings.SUPPORT_REPORT_RATE_PER_ADDRESS,
        increment=True,
    )  # fmt: skip
    by_charger = is_ratelimited(
        request, group="support-public-charger", key=lambda group, request: page.code,
        rate=settings.SUPPORT_REPORT_RATE_PER_CHARGER, increment=True,
    )  # fmt: skip
    return by_address or by_charger


def _too_many(request, page):
    response = render(request, "support/public/limited.html", {"page": page, "station": page.station}, status=429)
    response["Retry-After"] = "3600"
    return response


def _follow_url(ticket) -> str | None:
    """The driver's follow-up link: a path, so it stays on the host the driver came to."""
    from support.services.links import follow_path

    return follow_path(ticket)


@require_GET
def charger_page(request, code: str):
    return _render(request, _page(code))


@require_GET
def charger_status(request, code: str):
    """The live fragment the page fetches again every few seconds."""
    page = _page(code)
    return render(request, "support/public/_status.html", charger_pages.public_view(page.station))


@require_POST
def charger_report(request, code: str):
    page = _page(code)
    if _limited(request, page):
        return _too_many(request, page)
    view = charger_pages.public_view(page.station)
    form = ReportForm(request.POST, request.FILES, connectors=view["connectors"])
    if not form.is_valid():
        return _render(request, page, report_form=form, status=400, report_open=True)
    data = form.cleaned_data
    if data["website"]:
        # A bot: thanked like a person, so it learns nothing, and nothing is filed.
        return render(request, "support/public/reported.html", {"page": page, "station": page.station})
    connector = None
    if data["connector"] is not None:
        connector = page.station.connectors.filter(connector_id=data["connector"]).first()
    try:
        ticket = charger_pages.charger_page_report(
            page=page,
            category=data["category"],
            description=data["description"],
            connector=connector,
            name=data["name"],
            email=data["email"],
            phone=data["phone"],
            photo=data["photo"],
        )
    except TicketRefused as exc:
        form.add_error(None, str(exc))
        return _render(request, page, report_form=form, status=400, report_open=True)
    context = {"page": page, "station": page.station, "ticket": ticket, "follow_url": _follow_url(ticket)}
    return render(request, "support/public/reported.html", context)


@require_POST
def charger_watch(request, code: str):
    page = _page(code)
    if _limited(request, page):
        return _too_many(request, page)
    form = WatchForm(request.POST)
    if form.is_valid():
        try:
            watch = watches.availability_watch_create(station=page.station, email=form.cleaned_data["watch_email"])
        except TicketRefused as exc:
            form.add_error("watch_email", str(exc))
        else:
            return _render(request, page, watching=watch.email)
    return _render(request, page, watch_form=form, status=400)
