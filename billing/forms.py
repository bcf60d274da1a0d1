"""Billing's portal forms: every input has a size limit; what a user typed comes back with the errors."""

from datetime import time
from decimal import Decimal
from zoneinfo import available_timezones

from django import forms

from billing.models import Account, AccountKind, Funding, SessionBilling, Tariff
from stations.models import ChargingStation, Connector, Site

DAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
PRICE = {"max_digits": 12, "decimal_places": 5, "min_value": Decimal(0), "max_value": Decimal(10_000)}
MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": Decimal(0), "max_value": Decimal(1_000_000)}
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
MAX_PLACES = 2000


def _zones():
    return sorted(available_timezones())


class TariffForm(forms.Form):
    name = forms.CharField(max_length=100)
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", max_length=3, initial="EUR")
    is_default = forms.BooleanField(required=False, label="Network default")
    valid_from = forms.DateTimeField(required=False, widget=DATETIME)
    valid_until = forms.DateTimeField(required=False, widget=DATETIME)
    price_per_kwh = forms.DecimalField(**PRICE, initial=Decimal(0), label="Price per kWh")
    price_per_minute = forms.DecimalField(**PRICE, initial=Decimal(0), label="Price per minute charging")
    idle_price_per_minute = forms.DecimalField(**PRICE, initial=Decimal(0), label="Idle price per minute")
    idle_grace_minutes = forms.IntegerField(min_value=0, max_value=24 * 60, initial=0)
    session_fee = forms.DecimalField(**MONEY, initial=Decimal(0))
    minimum_price = forms.DecimalField(**MONEY, required=False)
    maximum_price = forms.DecimalField(**MONEY, required=False)
    tax_rate = forms.DecimalField(
        max_digits=6, decimal_places=4, min_value=Decimal(0), max_value=Decimal("0.9999"), initial=Decimal(0),
        help_text="0.19 for 19 %",
    )  # fmt: skip
    preauth_amount = forms.DecimalField(**MONEY, initial=Decimal(50), label="Pre-authorised on the card")
    sites = forms.ModelMultipleChoiceField(queryset=Site.objects.order_by("name"), required=False)
    stations = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Station identities, separated by commas or new lines",
    )  # fmt: skip
    connectors = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="IDENTITY/connector, e.g. CP-1/2",
    )  # fmt: skip

    def __init__(self, *args, tariff: Tariff | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tariff = tariff
        if tariff is not None:
            # A version's prices are in its tariff's currency: it stays.
            self.fields["currency"].disabled = True

    def clean_currency(self):
        return self.cleaned_data["currency"].upper()

    def _names(self, field: str) -> list[str]:
        raw = self.cleaned_data.get(field) or ""
        names = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
        if len(names) > MAX_PLACES:
            raise forms.ValidationError(f"at most {MAX_PLACES} places")
        return list(dict.fromkeys(names))

    def clean_stations(self):
        names = self._names("stations")
        found = {s.identity: s for s in ChargingStation.objects.filter(identity__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise forms.ValidationError(f"no such station: {', '.join(missing[:10])}")
        return [found[name] for name in names]

    def clean_connectors(self):
        wanted = []
        for name in self._names("connectors"):
            identity, _, number = name.rpartition("/")
            if not identity or not number.isdigit():
                raise forms.ValidationError(f"{name!r} is not IDENTITY/connector")
            wanted.append((identity, int(number)))
        rows = {
            (c.station.identity, c.connector_id): c
            for c in Connector.objects.select_related("station").filter(
                station__identity__in={identity for identity, _ in wanted}
            )
        }
        missing = [f"{i}/{n}" for i, n in wanted if (i, n) not in rows]
        if missing:
            raise forms.ValidationError(f"no such connector: {', '.join(missing[:10])}")
        return [rows[key] for key in wanted]

    def clean(self):
        data = super().clean()
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            self.add_error("valid_until", "must be after the start")
        low, high = data.get("minimum_price"), data.get("maximum_price")
        if low is not None and high is not None and high < low:
            self.add_error("maximum_price", "must not be below the minimum")
        return data


class PeriodForm(forms.Form):
    days = forms.TypedMultipleChoiceField(choices=DAYS, coerce=int, widget=forms.CheckboxSelectMultiple, required=False)
    start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    price_per_kwh = forms.DecimalField(**PRICE, required=False)
    price_per_minute = forms.DecimalField(**PRICE, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("days") and not self.errors and self.has_changed():
            self.add_error("days", "choose at least one day")
        return data

    def as_period(self) -> dict:
        data = self.cleaned_data
        period = {"days": sorted(data["days"]), "start": f"{data['start']:%H:%M}", "end": f"{data['end']:%H:%M}"}
        for name in ("price_per_kwh", "price_per_minute"):
            if data.get(name) is not None:
                period[name] = str(data[name])
        return period


class BasePeriodFormSet(forms.BaseFormSet):
    def periods(self) -> list[dict]:
        return [
            form.as_period()
            for form in self.forms
            if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


PeriodFormSet = forms.formset_factory(
    PeriodForm, formset=BasePeriodFormSet, extra=1, can_delete=True, max_num=50, validate_max=True, absolute_max=50
)


def period_initial(periods: list[dict]) -> list[dict]:
    return [
        {
            "days": p.get("days", list(range(7))),
            "start": time.fromisoformat(p["start"]),
            "end": time.fromisoformat(p["end"]),
            "price_per_kwh": p.get("price_per_kwh"),
            "price_per_minute": p.get("price_per_minute"),
        }
        for p in periods
    ]


class CalculatorForm(forms.Form):
    calc_start = forms.DateTimeField(widget=DATETIME, label="Start")
    calc_end = forms.DateTimeField(widget=DATETIME, label="End")
    calc_energy_kwh = forms.DecimalField(
        max_digits=10, decimal_places=3, min_value=Decimal(0), max_value=Decimal(10_000), label="Energy (kWh)"
    )
    calc_idle_minutes = forms.IntegerField(min_value=0, max_value=7 * 24 * 60, initial=0, label="Idle minutes")
    calc_time_zone = forms.ChoiceField(label="Site time zone", initial="UTC")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["calc_time_zone"].choices = [(zone, zone) for zone in _zones()]

    def clean(self):
        data = super().clean()
        start, end = data.get("calc_start"), data.get("calc_end")
        if start and end:
            if end <= start:
                self.add_error("calc_end", "must be after the start")
            elif (end - start).days > 7:
                self.add_error("calc_end", "at most a week")
            elif data.get("calc_idle_minutes", 0) * 60 > (end - start).total_seconds():
                self.add_error("calc_idle_minutes", "longer than the session")
        return data


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "kind", "funding", "currency", "email", "credit_limit", "allow_concurrent_sessions"]

    def clean_currency(self):
        currency = self.cleaned_data["currency"].upper()
        if len(currency) != 3 or not currency.isalpha():
            raise forms.ValidationError("a three-letter currency code")
        return currency


class TagLinkForm(forms.Form):
    id_tag = forms.CharField(max_length=20, label="ID tag")
    label = forms.CharField(max_length=100, required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200)


class AccountFilterForm(forms.Form):
    q = forms.CharField(max_length=100, required=False, label="Name or ID tag")
    funding = forms.ChoiceField(choices=[("", "any funding"), *Funding.choices], required=False)
    kind = forms.ChoiceField(choices=[("", "any kind"), *AccountKind.choices], required=False)


class SessionFilterForm(forms.Form):
    station = forms.CharField(max_length=48, required=False)
    account = forms.IntegerField(min_value=1, max_value=2**62, required=False)
    status = forms.ChoiceField(choices=[("", "any status"), *SessionBilling.Status.choices], required=False)


class PaymentFilterForm(forms.Form):
    status = forms.CharField(max_length=16, required=False)
    account = forms.IntegerField(min_value=1, max_value=2**62, required=False)


class ReviewForm(forms.Form):
    energy_wh = forms.IntegerField(min_value=0, max_value=10_000_000, label="Corrected energy (Wh)")
    note = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class CdrFilterForm(forms.Form):
    station = forms.CharField(max_length=48, required=False)
    stopped_after = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    stopped_before = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Until")


class DriverSearchForm(forms.Form):
    q = forms.CharField(max_length=48, label="ID tag or station")


class RefundForm(forms.Form):
    amount = forms.DecimalField(**MONEY)
    reason = forms.CharField(max_length=500)
    idempotency_key = forms.CharField(max_length=100, widget=forms.HiddenInput)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("more than zero")
        return amount


class LocalListForm(forms.Form):
    full = forms.BooleanField(required=False)
