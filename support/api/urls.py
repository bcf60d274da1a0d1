from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")

# Any token the path can carry reaches the view, which answers 404 for all but a
# ticket's own: a longer or odd one is no ticket, never Django's HTML 404.
FOLLOW_IN_PATH = r"(?P<token>[^/\x00]+)"

urlpatterns = [
    *router.urls,
    path("driver/tickets/", views.DriverTicketCreateView.as_view(), name="driver-ticket-create"),
    re_path(rf"^driver/tickets/{FOLLOW_IN_PATH}/$", views.DriverTicketView.as_view(), name="driver-ticket-detail"),
    re_path(
        rf"^driver/tickets/{FOLLOW_IN_PATH}/messages/$",
        views.DriverTicketReplyView.as_view(),
        name="driver-ticket-messages",
    ),
]
