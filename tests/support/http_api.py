"""Steward's /api/ over real HTTP, for a server running in another process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class Http:
    """Calls as one API key, the way a user's program would: (status, JSON body)."""

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        request.add_header("Content-Type", "application/json")
        try:
            # Generous: on SQLite a write waits its turn for the lock rather than failing.
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")
