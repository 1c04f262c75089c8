"""The `console` app's models, as Django finds them: each is defined in the layer that owns it
(docs/architecture.md). Import them from there, not from here."""

from agents.engine.models import Circuit, DeadLetter
from console.kernel.models import ApiKey
from console.langgraph_api.models import SdkRun, Thread

__all__ = ["ApiKey", "Circuit", "DeadLetter", "SdkRun", "Thread"]
