from django.urls import path

from . import webhooks
from .views import accounts, operations, reconciliation, support, tariffs

app_name = "billing"
urlpatterns = [
    path("", operations.home, name="home"),
    path("tariffs/", tariffs.tariff_list, name="tariffs"),
    path("tariffs/new/", tariffs.tariff_form, name="tariff-new"),
    path("tariffs/<int:pk>/", tariffs.tariff_form, name="tariff-edit"),
    path("accounts/", accounts.account_list, name="accounts"),
    path("accounts/new/", accounts.account_form, name="account-new"),
    path("accounts/<int:pk>/", accounts.account_detail, name="account-detail"),
    path("accounts/<int:pk>/edit/", accounts.account_form, name="account-edit"),
    path("accounts/<int:pk>/tags/", accounts.account_tag_link, name="account-tag-link"),
    path("accounts/<int:pk>/tags/<int:link_id>/unlink/", accounts.account_tag_unlink, name="account-tag-unlink"),
    path("accounts/<int:pk>/block/", accounts.account_status, {"action": "block"}, name="account-block"),
    path("accounts/<int:pk>/unblock/", accounts.account_status, {"action": "unblock"}, name="account-unblock"),
    path("sessions/", operations.session_list, name="sessions"),
    path("payments/", operations.payment_list, name="payments"),
    path("review/", operations.review_queue, name="review"),
    path("review/<int:session_id>/accept/", operations.review_accept, name="review-accept"),
    path("cdrs/", operations.cdr_page, name="cdrs"),
    path("invoices/", operations.invoice_list, name="invoices"),
    path("invoices/<int:pk>/", operations.invoice_detail, name="invoice"),
    path("invoices/<int:pk>/pdf/", operations.invoice_pdf, name="invoice-pdf"),
    path("support/", support.search, name="support-search"),
    path("support/tags/<path:id_tag>/", support.driver, name="driver"),
    path("support/payments/<int:pk>/refund/", support.refund, name="refund"),
    path("stations/<str:identity>/", support.station, name="station"),
    path("stations/<str:identity>/local-list/", operations.local_list_send, name="local-list-send"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("reconciliation/", reconciliation.reconciliation, name="reconciliation"),
]
