"""What billing's pages share: the permission guard and list pagination."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator

PAGE_SIZE = 50


def portal_permission(*perms: str):
    """Anonymous users go to the login page; signed-in users without the permissions get 403."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def paginate(request, rows, *, per_page: int = PAGE_SIZE) -> dict:
    """The context _pager.html reads: the page, its rows, and the query string without `page`."""
    paginator = Paginator(rows, per_page)
    page = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return {
        "page_obj": page,
        "is_paginated": page.has_other_pages(),
        "rows": list(page.object_list),
        "querystring": params.urlencode(),
    }
