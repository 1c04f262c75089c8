from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: what it connects needs the app registry, which is ready only now.
        from approvals import wiring

        wiring.connect()
