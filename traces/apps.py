from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "traces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: what it connects needs the app registry, which is ready only now.
        from traces import wiring

        wiring.connect()
