from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "stations"
    default_auto_field = "django.db.models.BigAutoField"
