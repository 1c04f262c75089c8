"""Measuring live updates in a browser: when each span row enters the page, and how late.

Used by `manage.py bench_live` (see console/harness/bench_live.py for what is measured).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["OBSERVER_JS", "latencies"]

# Installed before any page script: records when each span row first enters the DOM, and when
# the live websocket opened (rows sent before that are the page's initial catch-up, not live).
OBSERVER_JS = """
window.__spanSeen = {};
window.__wsOpen = null;
document.addEventListener('htmx:wsOpen', () => { if (window.__wsOpen === null) window.__wsOpen = Date.now(); });
new MutationObserver((records) => {
  const now = Date.now();
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.nodeType !== 1) continue;
      const rows = node.matches && node.matches('a.span-row') ? [node] : node.querySelectorAll('a.span-row');
      for (const row of rows) {
        const seq = row.dataset.seq;
        if (seq !== undefined && !(seq in window.__spanSeen)) window.__spanSeen[seq] = now;
      }
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


def latencies(spans: Sequence[tuple[int, float]], seen: dict[str, float], after_ms: float) -> list[float]:
    """Per span finished after `after_ms` (epoch ms): DOM time minus finish time, in ms.

    Args:
        spans: (seq, finished at in epoch ms) from the database.
        seen: seq → epoch ms when the page added the row.
    """
    out = []
    for seq, finished_ms in spans:
        shown = seen.get(str(seq))
        if shown is None or finished_ms < after_ms:
            continue
        out.append(max(0.0, shown - finished_ms))
    return out
