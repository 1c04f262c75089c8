from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: what it connects needs the app registry, which is ready only now.
        from agents import wiring

        wiring.connect(self)
