from django.conf import settings
from django.urls import path

from support.views import follow, merge

from .views import console, intake, public, reports, search

app_name = "support"
urlpatterns = [
    path("", console.queue, name="queue"),
    path("queue/live/", console.queue_live, name="queue-live"),
    path("tickets/<int:pk>/", console.ticket_detail, name="ticket"),
    path("tickets/<int:pk>/live/", console.ticket_live, name="ticket-live"),
    path("tickets/<int:pk>/reply/", console.ticket_reply, name="ticket-reply"),
    path("tickets/<int:pk>/update/", console.ticket_update, name="ticket-update"),
    path("tickets/<int:pk>/command/", console.ticket_command, name="ticket-command"),
    path("tickets/<int:pk>/refund/", console.ticket_refund, name="ticket-refund"),
    path("tickets/<int:pk>/escalate/", console.ticket_escalate, name="ticket-escalate"),
    path("drivers/", search.driver_search, name="driver-search"),
    path("reports/", reports.reports, name="reports"),
    path("calls/new/", intake.call_log, name="call-log"),
    path("qr/", intake.qr_sites, name="qr-sites"),
    path("qr/create/", intake.qr_pages_create, name="qr-pages-create"),
    path("qr/sites/<int:site_id>/", intake.qr_sheet, name="qr-sheet"),
    path("qr/stations/<str:identity>.svg", intake.qr_station_svg, name="qr-svg"),
]

# A driver's own ticket by its signed link, the rating links of the resolution mail;
# merging a duplicate ticket (templates/support/console/_merge.html).
urlpatterns += [
    path("t/<str:token>/", follow.follow, name="follow"),
    path("t/<str:token>/rate/<str:rating>/", follow.rate, name="rate"),
    path("tickets/<int:ticket_id>/merge/", merge.ticket_merge_view, name="ticket-merge"),
]

# The mail provider's inbound webhook, served only once its signing key is configured.
if settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
    from anymail.webhooks.mailgun import MailgunInboundWebhookView

    urlpatterns.append(path("inbound/mailgun/", MailgunInboundWebhookView.as_view(), name="inbound-mailgun"))

# A charger's public page, under /c/ (config/urls.py): short enough to print under its QR code.
public_urlpatterns = (
    [
        path("<str:code>/", public.charger_page, name="page"),
        path("<str:code>/status/", public.charger_status, name="status"),
        path("<str:code>/report/", public.charger_report, name="report"),
        path("<str:code>/watch/", public.charger_watch, name="watch"),
    ],
    "charger",
)
