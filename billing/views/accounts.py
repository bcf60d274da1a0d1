"""Operator pages for accounts: list, create and edit, tags, blocking, history."""

from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing.forms import AccountFilterForm, AccountForm, ReasonForm, TagLinkForm
from billing.models import Account, AccountStatus, AccountTag
from billing.services import account_changes
from billing.services.account_changes import AccountChangeRefused

from .common import paginate, portal_permission

ACCOUNT_FIELDS = AccountForm.Meta.fields


@portal_permission("billing.change_account")
def account_list(request):
    filters = AccountFilterForm(request.GET or None)
    rows = Account.objects.annotate(tag_count=Count("tags")).order_by("name", "id")
    if filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            rows = rows.filter(Q(name__icontains=data["q"]) | Q(tags__id_tag__id_tag=data["q"])).distinct()
        if data["funding"]:
            rows = rows.filter(funding=data["funding"])
        if data["kind"]:
            rows = rows.filter(kind=data["kind"])
    status = 400 if filters.is_bound and not filters.is_valid() else 200
    context = paginate(request, rows) | {"filters": filters, "noun": "accounts"}
    return render(request, "billing/account_list.html", context, status=status)


@require_http_methods(["GET", "POST"])
@portal_permission("billing.change_account", "billing.add_account")
def account_form(request, pk: int | None = None):
    account = get_object_or_404(Account, pk=pk) if pk else None
    form = AccountForm(request.POST or None, instance=account)
    if request.method == "POST":
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in ACCOUNT_FIELDS}
            try:
                if account is None:
                    account = account_changes.account_create(by=request.user, **fields)
                else:
                    # The form wrote the values onto the instance: the service compares with the database.
                    account = account_changes.account_update(account=account, by=request.user, **fields)
            except AccountChangeRefused as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("billing:account-detail", pk=account.pk)
        return render(request, "billing/account_form.html", {"form": form, "account": account}, status=400)
    return render(request, "billing/account_form.html", {"form": form, "account": account})


def _detail(request, account: Account, *, tag_form=None, reason_form=None, error=None, status=200):
    account = Account.objects.get(pk=account.pk)
    context = {
        "account": account,
        "tags": AccountTag.objects.filter(account=account).select_related("id_tag"),
        "events": account.events.select_related("by")[:30],
        "invoices": account.invoices.all()[:24],
        "tag_form": tag_form or TagLinkForm(),
        "reason_form": reason_form or ReasonForm(),
        "error": error,
        "is_blocked": account.status == AccountStatus.BLOCKED,
    }
    return render(request, "billing/account_detail.html", context, status=status)


@portal_permission("billing.change_account")
def account_detail(request, pk: int):
    return _detail(request, get_object_or_404(Account, pk=pk))


@require_POST
@portal_permission("billing.change_account", "billing.add_accounttag")
def account_tag_link(request, pk: int):
    account = get_object_or_404(Account, pk=pk)
    form = TagLinkForm(request.POST)
    if not form.is_valid():
        return _detail(request, account, tag_form=form, status=400)
    try:
        account_changes.account_tag_link(
            account=account, id_tag=form.cleaned_data["id_tag"], label=form.cleaned_data["label"], by=request.user
        )
    except AccountChangeRefused as exc:
        return _detail(request, account, tag_form=form, error=str(exc), status=400)
    messages.info(request, f"{form.cleaned_data['id_tag']} now charges to {account.name}")
    return redirect("billing:account-detail", pk=account.pk)


@require_POST
@portal_permission("billing.change_account", "billing.delete_accounttag")
def account_tag_unlink(request, pk: int, link_id: int):
    link = get_object_or_404(AccountTag.objects.select_related("account", "id_tag"), pk=link_id, account_id=pk)
    account_changes.account_tag_unlink(link=link, by=request.user)
    messages.info(request, f"{link.id_tag.id_tag} no longer charges to {link.account.name}")
    return redirect("billing:account-detail", pk=pk)


@require_POST
@portal_permission("billing.change_account")
def account_status(request, pk: int, action: str):
    account = get_object_or_404(Account, pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _detail(request, account, reason_form=form, status=400)
    change = account_changes.account_block if action == "block" else account_changes.account_unblock
    try:
        change(account=account, reason=form.cleaned_data["reason"], by=request.user)
    except AccountChangeRefused as exc:
        return _detail(request, account, reason_form=form, error=str(exc), status=409)
    messages.info(request, f"{account.name} {'blocked' if action == 'block' else 'unblocked'}")
    return redirect("billing:account-detail", pk=pk)
