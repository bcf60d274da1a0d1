"""Who may charge, what a session costs, and where every cent went.

Money is Decimal with an explicit currency, always. Tariffs are versioned: a
session keeps the version it started with. Payments move through their states
by compare-and-swap; every movement of money is a balanced, immutable ledger
posting written in the same transaction.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from stations.models import ChargingSession, ChargingStation, Connector, IdTag, Site

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 12, "decimal_places": 5}


class AccountKind(models.TextChoices):
    DRIVER = "driver", "Driver"
    FLEET = "fleet", "Fleet"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BLOCKED = "blocked", "Blocked"
    CLOSED = "closed", "Closed"


class Funding(models.TextChoices):
    CARD = "card", "Card (pre-authorised per session)"
    PREPAID = "prepaid", "Prepaid balance"
    POSTPAID = "postpaid", "Postpaid (monthly invoice)"


class Account(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=AccountKind.choices, default=AccountKind.DRIVER)
    status = models.CharField(max_length=10, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    status_reason = models.CharField(max_length=200, blank=True)
    funding = models.CharField(max_length=10, choices=Funding.choices, default=Funding.CARD)
    currency = models.CharField(max_length=3, default="EUR")
    email = models.EmailField(blank=True)
    # Prepaid: what is left to spend. Kept equal to the ledger's balance of the
    # account (written in the same transaction as every posting that moves it).
    balance = models.DecimalField(**MONEY, default=Decimal("0"))
    credit_limit = models.DecimalField(**MONEY, default=Decimal("0"), help_text="Postpaid: unpaid amount allowed")
    allow_concurrent_sessions = models.BooleanField(
        default=False, help_text="A fleet's tags may charge at the same time; a driver's tag may not"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="account_credit_limit_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class AccountTag(models.Model):
    """An ID tag (RFID card, app token) that charges to an account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tags")
    id_tag = models.OneToOneField(IdTag, on_delete=models.CASCADE, related_name="billing_account")
    label = models.CharField(max_length=100, blank=True, help_text="e.g. the driver or vehicle it is for")

    class Meta:
        ordering = ["id_tag__id_tag"]

    def __str__(self) -> str:
        return f"{self.id_tag} → {self.account}"


class PaymentMethod(models.Model):
    """A card held by the payment provider: only its ids and what a receipt shows live here."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="payment_methods")
    provider = models.CharField(max_length=20, default="stripe")
    provider_customer_id = models.CharField(max_length=100)
    provider_method_id = models.CharField(max_length=100)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    is_default = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(is_default=True), name="one_default_payment_method"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}".strip()


class Tariff(models.Model):
    """A named price list. Its terms live in versions; editing makes a new version."""

    name = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3, default="EUR")
    is_default = models.BooleanField(default=False, help_text="The network's tariff where no other applies")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    current_version = models.ForeignKey(
        "TariffVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_tariff"),
        ]

    def __str__(self) -> str:
        return self.name


class TariffVersion(models.Model):
    """The terms of a tariff at one time. Never edited once a session may use it.

    Prices exclude tax. `periods` are time-of-use windows in the site's time
    zone: [{"days": [0..6] (Monday 0), "start": "HH:MM", "end": "HH:MM",
    "price_per_kwh": "0.45", "price_per_minute": "0.02"}]; a window whose end
    is not after its start crosses midnight; a price left out falls back to the
    version's own.
    """

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    price_per_kwh = models.DecimalField(**RATE, default=Decimal("0"))
    price_per_minute = models.DecimalField(**RATE, default=Decimal("0"), help_text="While charging")
    idle_price_per_minute = models.DecimalField(**RATE, default=Decimal("0"))
    idle_grace_minutes = models.PositiveIntegerField(default=0)
    session_fee = models.DecimalField(**MONEY, default=Decimal("0"))
    minimum_price = models.DecimalField(**MONEY, null=True, blank=True)
    maximum_price = models.DecimalField(**MONEY, null=True, blank=True)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("0"), help_text="0.19 = 19 %")
    preauth_amount = models.DecimalField(**MONEY, default=Decimal("50"), help_text="Held on the card at the start")
    periods = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["tariff", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "version"], name="unique_tariff_version"),
            models.CheckConstraint(condition=Q(tax_rate__gte=0) & Q(tax_rate__lt=1), name="tariff_tax_rate_range"),
        ]

    def __str__(self) -> str:
        return f"{self.tariff.name} v{self.version}"


class TariffAssignment(models.Model):
    """Where a tariff applies: one site, station or connector (the most specific wins)."""

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="assignments")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(ChargingStation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(site__isnull=False, station__isnull=True, connector__isnull=True)
                    | Q(site__isnull=True, station__isnull=False, connector__isnull=True)
                    | Q(site__isnull=True, station__isnull=True, connector__isnull=False)
                ),
                name="tariff_assignment_one_target",
            ),
            models.UniqueConstraint(fields=["site"], condition=Q(site__isnull=False), name="one_tariff_per_site"),
            models.UniqueConstraint(
                fields=["station"], condition=Q(station__isnull=False), name="one_tariff_per_station"
            ),
            models.UniqueConstraint(
                fields=["connector"], condition=Q(connector__isnull=False), name="one_tariff_per_connector"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tariff} at {self.connector or self.station or self.site}"


class SessionBilling(models.Model):
    """What billing knows of one charging session: its account, tariff version and price."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        REVIEW = "review", "Waiting for a meter review"
        PRICED = "priced", "Priced"
        FREE = "free", "Not billed (no account)"

    session = models.OneToOneField(ChargingSession, on_delete=models.CASCADE, related_name="billing")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions")
    tariff_version = models.ForeignKey(TariffVersion, null=True, blank=True, on_delete=models.PROTECT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    currency = models.CharField(max_length=3, blank=True)
    energy_wh = models.BigIntegerField(null=True, blank=True, help_text="The energy the price is based on")
    lines = models.JSONField(default=list, blank=True)
    net = models.DecimalField(**MONEY, null=True, blank=True)
    tax = models.DecimalField(**MONEY, null=True, blank=True)
    total = models.DecimalField(**MONEY, null=True, blank=True)
    priced_at = models.DateTimeField(null=True, blank=True)
    # The operator's answer to flagged readings, before anything is charged.
    reviewed_energy_wh = models.BigIntegerField(null=True, blank=True)
    review_note = models.TextField(blank=True, max_length=2000)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
    invoice = models.ForeignKey("Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")

    class Meta:
        indexes = [models.Index(fields=["status"], name="sessionbilling_status_idx")]

    def __str__(self) -> str:
        return f"billing of {self.session}"


class PaymentStatus(models.TextChoices):
    """
    pending ──authorise──► authorised ──capture──► captured ──refund──► (partly) refunded
        │                     │   └──void──► voided
        └──► failed           └──capture fails──► capture_failed ──retry──► captured
    """

    PENDING = "pending", "Pending"
    AUTHORISED = "authorised", "Authorised"
    CAPTURED = "captured", "Captured"
    CAPTURE_FAILED = "capture_failed", "Capture failed"
    VOIDED = "voided", "Voided"
    FAILED = "failed", "Failed"
    INVOICED = "invoiced", "Invoiced"


class Payment(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments")
    session = models.OneToOneField(
        ChargingSession, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    gateway = models.CharField(max_length=20)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    currency = models.CharField(max_length=3)
    amount_authorised = models.DecimalField(**MONEY, default=Decimal("0"))
    amount_captured = models.DecimalField(**MONEY, default=Decimal("0"))
    amount_refunded = models.DecimalField(**MONEY, default=Decimal("0"))
    provider_payment_id = models.CharField(max_length=100, blank=True, db_index=True)
    # Set for payments a caller may repeat (top-ups): the same key finds the same payment.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    capture_attempts = models.PositiveIntegerField(default=0)
    next_capture_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=models.F("amount_captured")), name="payment_refund_within_capture"
            ),
            models.CheckConstraint(
                condition=Q(amount_captured__gte=0) & Q(amount_refunded__gte=0), name="payment_amounts_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_capture_at"], name="payment_retry_idx")]
        permissions = [("reconcile_payments", "Can compare payments with the provider's records")]

    def __str__(self) -> str:
        return f"payment {self.pk} ({self.status})"


class PaymentEvent(models.Model):
    """A row for every change of a payment, with who or what did it."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    amount = models.DecimalField(**MONEY, null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} of payment {self.payment_id}"


class RefundStatus(models.TextChoices):
    """pending (money reserved on the payment, provider asked) ──► succeeded | failed (reservation released)"""

    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.SUCCEEDED)
    reason = models.CharField(max_length=500)
    idempotency_key = models.CharField(max_length=100, unique=True)
    provider_refund_id = models.CharField(max_length=100, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_positive")]
        permissions = [("refund_any_amount", "Can refund any amount (no refund limit)")]

    def __str__(self) -> str:
        return f"refund {self.amount} of payment {self.payment_id}"


class LedgerPosting(models.Model):
    """One movement of money: entries that sum to zero per currency. Immutable."""

    kind = models.CharField(max_length=30)
    memo = models.CharField(max_length=300, blank=True)
    session = models.ForeignKey(ChargingSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="postings")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Ledger postings are immutable; post a correction instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Ledger postings are immutable; post a correction instead")


class LedgerEntry(models.Model):
    """A debit (positive) or credit (negative) to one ledger account code."""

    posting = models.ForeignKey(LedgerPosting, on_delete=models.PROTECT, related_name="entries")
    ledger_account = models.CharField(max_length=60, db_index=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["posting_id", "id"]

    def __str__(self) -> str:
        return f"{self.ledger_account} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Ledger entries are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Ledger entries are immutable")


class RefundLimit(models.Model):
    """The most one person may refund per refund (support agents); operators have none."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refund_limit")
    max_amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="EUR")

    def __str__(self) -> str:
        return f"{self.user} up to {self.max_amount} {self.currency}"


class WebhookEvent(models.Model):
    """A provider's webhook, stored once by its event id so a replay changes nothing."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="unique_webhook_event")]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.event_id}"


class Invoice(models.Model):
    """A postpaid account's monthly invoice: the priced sessions of the month."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=30, unique=True)
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    net = models.DecimalField(**MONEY)
    tax = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    issued_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "account"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period_start"], name="one_invoice_per_account_period"),
        ]

    def __str__(self) -> str:
        return self.number


class LocalListVersion(models.Model):
    """The local authorisation list a station holds (SendLocalList), by version."""

    station = models.OneToOneField(ChargingStation, on_delete=models.CASCADE, related_name="local_list")
    version = models.PositiveIntegerField(default=0)
    # id tag -> the status last sent, so a differential update sends only changes.
    entries = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"local list v{self.version} of {self.station}"


class AccountEventKind(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    BLOCKED = "blocked", "Blocked"
    UNBLOCKED = "unblocked", "Unblocked"
    TAG_LINKED = "tag_linked", "Tag linked"
    TAG_UNLINKED = "tag_unlinked", "Tag unlinked"


class AccountEvent(models.Model):
    """A row for every change of an account or its tags, with who made it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=AccountEventKind.choices)
    detail = models.CharField(max_length=500, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} of account {self.account_id}"
