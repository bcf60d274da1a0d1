"""Settings for the test suite: the real ones, made fast and isolated."""

from .env import env_bool, env_str
from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Unit tests run tasks inline; the worker processes the tests start set it to 0.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
# A worker process started by a test may be pointed at a loopback SMTP server.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tasks of one test run never reach another run's worker on a shared Redis.
CELERY_TASK_DEFAULT_QUEUE = f"{CHANNEL_PREFIX}-tasks"  # noqa: F405
