"""The landing page sends each role to where its work is."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from config import roles


@login_required
def home(request):
    user = request.user
    if roles.OPERATOR in roles.user_roles(user):
        return redirect("dashboard")
    if user.has_perm("stations.view_chargingstation"):
        return redirect("stations:station-list")
    if hasattr(user, "technician"):
        return redirect("workorders:my-queue")
    if user.has_perm("workorders.view_incident"):
        return redirect("workorders:incident-board")
    return redirect("api-docs")
