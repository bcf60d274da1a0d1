"""Operator pages for tariffs: the list, and one form to create or revise with a price calculator."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from billing.forms import CalculatorForm, PeriodFormSet, TariffForm, period_initial
from billing.models import Tariff, TariffVersion
from billing.services import tariffs
from billing.services.pricing import Terms, Usage, price
from billing.services.tariffs import TERM_FIELDS, TariffInvalid, assignment_target

from .common import paginate, portal_permission

TERMS_IN_FORM = [name for name in TERM_FIELDS if name != "periods"]


@portal_permission("billing.view_tariff")
def tariff_list(request):
    rows = (
        Tariff.objects.select_related("current_version")
        .annotate(places=Count("assignments"), version_count=Count("versions", distinct=True))
        .order_by("name")
    )
    return render(request, "billing/tariff_list.html", paginate(request, rows) | {"noun": "tariffs"})


def calculator_price(terms: dict, periods: list[dict], calc: dict):
    """The price of the calculator's made-up session by the terms being edited: the same
    pricing function that prices real sessions. Energy flows evenly until the idle
    minutes at the end."""
    zone = ZoneInfo(calc["calc_time_zone"])
    start = calc["calc_start"].replace(tzinfo=None).replace(tzinfo=zone)
    end = calc["calc_end"].replace(tzinfo=None).replace(tzinfo=zone)
    idle_from = end - timedelta(minutes=calc["calc_idle_minutes"])
    wh = calc["calc_energy_kwh"] * 1000
    readings = (
        ((start, Decimal(0)), (idle_from, wh), (end, wh)) if idle_from < end else ((start, Decimal(0)), (end, wh))
    )
    usage = Usage(
        start=start,
        end=end,
        readings=readings,
        idle=((idle_from, end),) if idle_from < end else (),
    )
    priced = Terms(
        currency=terms["currency"],
        time_zone=calc["calc_time_zone"],
        periods=tariffs.periods_parse(periods),
        **{name: terms[name] for name in TERMS_IN_FORM if name != "preauth_amount"},
    )
    return price(priced, usage)


def _initial(tariff: Tariff) -> dict:
    version = tariff.current_version
    places = {"station": [], "site": [], "connector": []}
    for assignment in tariff.assignments.select_related("station", "site", "connector__station"):
        places[assignment_target(assignment)].append(assignment)
    return {
        "name": tariff.name,
        "currency": tariff.currency,
        "is_default": tariff.is_default,
        "valid_from": tariff.valid_from,
        "valid_until": tariff.valid_until,
        **({name: getattr(version, name) for name in TERMS_IN_FORM} if version else {}),
        "sites": [a.site for a in places["site"]],
        "stations": "\n".join(a.station.identity for a in places["station"]),
        "connectors": "\n".join(
            f"{a.connector.station.identity}/{a.connector.connector_id}" for a in places["connector"]
        ),
    }


@require_http_methods(["GET", "POST"])
@portal_permission("billing.view_tariff", "billing.change_tariff", "billing.add_tariff")
def tariff_form(request, pk: int | None = None):
    tariff = get_object_or_404(Tariff.objects.select_related("current_version"), pk=pk) if pk else None
    periods_initial = period_initial(tariff.current_version.periods) if tariff and tariff.current_version else []
    if request.method == "GET":
        form = TariffForm(initial=_initial(tariff) if tariff else None, tariff=tariff)
        periods = PeriodFormSet(prefix="periods", initial=periods_initial)
        calc = CalculatorForm(prefix=None)
        return _render_form(request, tariff, form, periods, calc)

    form = TariffForm(request.POST, initial=_initial(tariff) if tariff else None, tariff=tariff)
    periods = PeriodFormSet(request.POST, prefix="periods", initial=periods_initial)
    calculating = "calculate" in request.POST
    calc = CalculatorForm(request.POST) if calculating else CalculatorForm()
    valid = form.is_valid() and periods.is_valid()
    if calculating:
        result = error = None
        if valid and calc.is_valid():
            try:
                result = calculator_price(form.cleaned_data, periods.periods(), calc.cleaned_data)
            except TariffInvalid as exc:
                error = str(exc)
        status = 200 if result else 400
        return _render_form(request, tariff, form, periods, calc, result=result, error=error, status=status)
    if not valid:
        return _render_form(request, tariff, form, periods, calc, status=400)
    data = form.cleaned_data
    terms = {name: data[name] for name in TERMS_IN_FORM} | {"periods": periods.periods()}
    places = {"stations": data["stations"], "sites": list(data["sites"]), "connectors": data["connectors"]}
    try:
        if tariff is None:
            if Tariff.objects.filter(name=data["name"]).exists():
                form.add_error("name", "a tariff of this name exists")
                return _render_form(request, tariff, form, periods, calc, status=400)
            tariff = tariffs.tariff_create(
                name=data["name"], currency=data["currency"], by=request.user, is_default=data["is_default"],
                valid_from=data["valid_from"], valid_until=data["valid_until"], **places, **terms,
            )  # fmt: skip
            messages.info(request, f"Tariff {tariff.name} created (version 1)")
        else:
            if Tariff.objects.filter(name=data["name"]).exclude(pk=tariff.pk).exists():
                form.add_error("name", "a tariff of this name exists")
                return _render_form(request, tariff, form, periods, calc, status=400)
            tariffs.tariff_update(
                tariff=tariff, name=data["name"], is_default=data["is_default"],
                valid_from=data["valid_from"], valid_until=data["valid_until"],
            )  # fmt: skip
            current = tariff.current_version
            if current is None or any(getattr(current, name) != value for name, value in terms.items()):
                version = tariffs.tariff_revise(tariff=tariff, by=request.user, **terms)
                messages.info(request, f"Tariff {tariff.name}: version {version.version}; running sessions keep theirs")
            else:
                messages.info(request, f"Tariff {tariff.name} saved; its terms did not change")
            tariffs.tariff_assignments_set(tariff=tariff, **places)
    except TariffInvalid as exc:
        return _render_form(request, tariff, form, periods, calc, error=str(exc), status=400)
    return redirect("billing:tariff-edit", pk=tariff.pk)


def _render_form(request, tariff, form, periods, calc, *, result=None, error=None, status=200):
    versions = (
        TariffVersion.objects.filter(tariff=tariff).select_related("created_by").order_by("-version")[:20]
        if tariff
        else []
    )
    context = {
        "tariff": tariff,
        "form": form,
        "periods": periods,
        "calc": calc,
        "result": result,
        "error": error,
        "versions": versions,
    }
    return render(request, "billing/tariff_form.html", context, status=status)
