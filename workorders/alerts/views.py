"""Alert pages: the list with acknowledge, the nav badge, rules and endpoints for operators."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import ListView

from config.roles import PortalPermissionMixin

from . import selectors
from .forms import AlertEndpointForm, AlertRuleForm
from .models import Alert, AlertEndpoint, AlertKind, AlertRule, AlertSeverity, AlertStatus
from .services import endpoints as endpoint_services
from .services import evaluation, rules

PAGE_SIZE = 50

# The fields only some kinds use; the rule form hides the others (static/workorders/alerts_rule_form.js).
KIND_FIELDS = {
    AlertKind.ERROR_CODE: ["error_codes"],
    AlertKind.UPTIME_BELOW: ["threshold_percent", "window_days"],
    AlertKind.SESSION_FAILURES: ["threshold_percent", "window_hours", "min_sessions"],
}


class AlertListView(PortalPermissionMixin, ListView):
    """Open alerts (or as filtered), worst first; the list updates by itself."""

    permission_required = "workorders.view_alert"
    template_name = "workorders/alerts/list.html"
    context_object_name = "alerts"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        get = self.request.GET
        return selectors.alert_list(
            status=get.get("status", "open"), severity=get.get("severity", ""), kind=get.get("kind", "")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET.copy()
        params.pop("page", None)
        user = self.request.user
        context.update(
            status_choice=self.request.GET.get("status", "open"),
            statuses=AlertStatus.choices,
            severities=AlertSeverity.choices,
            kinds=AlertKind.choices,
            filters=self.request.GET,
            querystring=params.urlencode(),
            live_query=self.request.GET.urlencode(),
            can_acknowledge=user.has_perm("workorders.change_alert"),
            paused=list(selectors.endpoints_paused()) if user.has_perm("workorders.view_alertendpoint") else [],
        )
        return context


class AlertListLiveView(AlertListView):
    template_name = "workorders/alerts/_list.html"


class AlertBadgeView(PortalPermissionMixin, View):
    permission_required = "workorders.view_alert"

    def get(self, request):
        return render(
            request, "workorders/alerts/_badge_count.html", {"count": selectors.alerts_unacknowledged_count()}
        )


class AlertAcknowledgeView(PortalPermissionMixin, View):
    permission_required = "workorders.change_alert"

    def post(self, request, pk: int):
        alert = get_object_or_404(Alert, pk=pk)
        try:
            evaluation.alert_acknowledge(alert=alert, by=request.user, note=request.POST.get("note", ""))
        except evaluation.AlertTransitionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Acknowledged: {alert.summary}")
        return redirect(reverse("workorders:alert-list"))


class RuleListView(PortalPermissionMixin, ListView):
    permission_required = "workorders.view_alertrule"
    template_name = "workorders/alerts/rules.html"
    context_object_name = "rules"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        return selectors.rule_list()


class RuleFormView(PortalPermissionMixin, View):
    """Create (no pk) or edit a rule; bad input comes back with what was typed."""

    def get_permission_required(self):
        return ["workorders.change_alertrule" if "pk" in self.kwargs else "workorders.add_alertrule"]

    def _rule(self):
        return get_object_or_404(AlertRule, pk=self.kwargs["pk"]) if "pk" in self.kwargs else None

    def get(self, request, pk: int | None = None):
        rule = self._rule()
        return self._page(request, AlertRuleForm(instance=rule), rule)

    def post(self, request, pk: int | None = None):
        rule = self._rule()
        form = AlertRuleForm(request.POST, instance=rule)
        if not form.is_valid():
            return self._page(request, form, rule, status=400)
        if rule is None:
            rule = rules.rule_create(data=form.service_data(), by=request.user)
        else:
            rules.rule_update(rule=AlertRule.objects.get(pk=rule.pk), data=form.service_data(), by=request.user)
        messages.success(request, f"Rule saved: {rule.name}")
        return redirect(reverse("workorders:alert-rules"))

    def _page(self, request, form, rule, status=200):
        context = {"form": form, "rule": rule, "kind_fields": KIND_FIELDS}
        return render(request, "workorders/alerts/rule_form.html", context, status=status)


class RuleDeleteView(PortalPermissionMixin, View):
    permission_required = "workorders.delete_alertrule"

    def post(self, request, pk: int):
        rule = get_object_or_404(AlertRule, pk=pk)
        name = rule.name
        rules.rule_delete(rule=rule, by=request.user)
        messages.success(request, f"Rule deleted: {name}")
        return redirect(reverse("workorders:alert-rules"))


class EndpointListView(PortalPermissionMixin, View):
    """Endpoints, and a form for a new one; a generated secret is shown on the answer to that form only."""

    permission_required = "workorders.view_alertendpoint"

    def get(self, request):
        return self._page(request, AlertEndpointForm())

    def post(self, request):
        if not request.user.has_perm("workorders.add_alertendpoint"):
            raise PermissionDenied
        form = AlertEndpointForm(request.POST)
        if not form.is_valid():
            return self._page(request, form, status=400)
        endpoint, secret = endpoint_services.endpoint_create(by=request.user, **form.cleaned_data)
        return self._page(request, AlertEndpointForm(), created=endpoint, secret=secret)

    def _page(self, request, form, status=200, **extra):
        endpoints = AlertEndpoint.objects.order_by("name", "id")
        context = {"form": form, "endpoints": endpoints, **extra}
        response = render(request, "workorders/alerts/endpoints.html", context, status=status)
        if extra.get("secret"):
            response["Cache-Control"] = "no-store"
        return response


class EndpointResumeView(PortalPermissionMixin, View):
    permission_required = "workorders.change_alertendpoint"

    def post(self, request, pk: int):
        endpoint = get_object_or_404(AlertEndpoint, pk=pk)
        try:
            endpoint_services.endpoint_resume(endpoint=endpoint, by=request.user)
        except endpoint_services.EndpointTransitionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Resumed: {endpoint.name}")
        return redirect(reverse("workorders:alert-endpoints"))
