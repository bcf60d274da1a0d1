from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("accounts", views.AccountViewSet, basename="account")
router.register("tags", views.TagViewSet, basename="tag")
router.register("tariffs", views.TariffViewSet, basename="tariff")
router.register("payments", views.PaymentViewSet, basename="payment")
router.register("cdrs", views.CdrViewSet, basename="cdr")

urlpatterns = router.urls
