"""Roles are Django groups carrying model permissions.

Views and API endpoints check permissions, never group names, so a role can be
widened in one place (ROLE_PERMISSIONS) without touching any view.
"""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.auth.models import Group, Permission
from rest_framework.permissions import BasePermission

OPERATOR = "operator"
DISPATCHER = "dispatcher"
TECHNICIAN = "technician"
SUPPORT_AGENT = "support agent"
ROLES = (OPERATOR, DISPATCHER, TECHNICIAN, SUPPORT_AGENT)

_STATION_READ = [
    "stations.view_site",
    "stations.view_chargingstation",
    "stations.view_connector",
    "stations.view_statusevent",
    "stations.view_chargingsession",
    "stations.view_metersample",
]

# Operators get every permission of the project's apps (see ensure_roles).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    DISPATCHER: [
        *_STATION_READ,
        "stations.view_framelog",
        "stations.view_remotecommand",
        "workorders.view_incident",
        "workorders.view_workorder",
        "workorders.view_all_workorders",
        "workorders.change_workorder",
        "workorders.view_technician",
        "workorders.change_technician",
        "workorders.view_errorcode",
        "workorders.view_maintenanceplan",
        # Alerts: see them and acknowledge them; rules and endpoints stay with operators.
        "workorders.view_alert",
        "workorders.change_alert",
    ],
    SUPPORT_AGENT: [
        *_STATION_READ,
        "stations.view_idtag",
        "stations.view_remotecommand",
        "stations.send_driver_command",
        # Tickets opened for a driver (a phone call logged, a report through the API) and followed.
        "support.add_ticket",
        "support.view_ticket",
        "workorders.view_incident",
        # Refunds within the person's RefundLimit; operators hold billing.refund_any_amount.
        "billing.view_account",
        "billing.view_accounttag",
        "billing.view_sessionbilling",
        "billing.view_payment",
        "billing.view_paymentevent",
        "billing.view_refund",
        "billing.add_refund",
        # The support desk: work tickets (reply, act, escalate); reports stay with operators.
        "support.work_ticket",
        "support.view_ticket",
        "support.change_ticket",
        "support.view_driver",
        "support.view_ticketmessage",
        "support.add_ticketmessage",
        "support.view_ticketaction",
        "support.add_ticketaction",
        "support.view_macro",
        "support.view_troubleshootingstep",
    ],
    # Technicians see stations, and send on-site commands, through their own work only.
    TECHNICIAN: ["stations.send_onsite_command", "workorders.view_workorder", "workorders.view_errorcode"],
}
OPERATOR_APPS = ("stations", "workorders", "billing", "support", "authtoken")


def ensure_roles() -> None:
    """Create the role groups and give them their permissions (idempotent)."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == OPERATOR:
            perms = Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS)
        else:
            perms = _permissions(ROLE_PERMISSIONS[role])
        group.permissions.set(perms)


def _permissions(names: list[str]) -> list[Permission]:
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = [
        perm
        for perm in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for _, codename in wanted]
        )
        if (perm.content_type.app_label, perm.codename) in wanted
    ]
    if len(found) != len(wanted):
        missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
        raise LookupError(f"unknown permissions: {sorted(missing)}")
    return found


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return {OPERATOR}
    return set(user.groups.values_list("name", flat=True))


def roles_context(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": set()}
    return {"user_roles": user_roles(user)}


class PortalPermissionMixin(PermissionRequiredMixin):
    """Portal page guard: anonymous users go to the login page, others get 403."""

    raise_exception = False

    def handle_no_permission(self):
        if self.request.user.is_authenticated:
            self.raise_exception = True
        return super().handle_no_permission()


class ModelViewPermission(BasePermission):
    """Read access to an API endpoint needs the model's view permission.

    The view names it with `required_permission`; writes are refused unless the
    view also lists `write_permission`.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return user.has_perm(view.required_permission)
        write_permission = getattr(view, "write_permission", None)
        return bool(write_permission) and user.has_perm(write_permission)


class IsOperator(BasePermission):
    """Default for any endpoint that does not say otherwise: operators only."""

    def has_permission(self, request, view) -> bool:
        return OPERATOR in user_roles(request.user)
