"""The `traces` app's models, as Django finds them: each is defined in the layer that owns it
(docs/architecture.md). Import them from there, not from here."""

from traces.recording.models import Feedback, SealedRunInput, Span

__all__ = ["Feedback", "SealedRunInput", "Span"]
