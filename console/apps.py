from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: what it connects needs the app registry, which is ready only now.
        from console import wiring

        wiring.connect()
