"""A page on another origin calls `/langgraph/` from a real browser (fetch with the SDK's
`x-api-key` header and a JSON body, so Chromium sends a preflight first): a listed origin reads
the answer, an unlisted one is blocked by the browser (console/langgraph_api/cors.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.kernel.models import ApiKey
from tests.support.processes import free_port, server_env, start_process, stop_process, wait_until_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

SEARCH = """async ([url, key]) => {
  try {
    const r = await fetch(url, {method: "POST", headers: {"x-api-key": key, "content-type": "application/json"},
                                body: JSON.stringify({limit: 100})});
    return {status: r.status, graphs: (await r.json()).map((a) => a.graph_id)};
  } catch (e) {
    return {blocked: String(e)};
  }
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_origin(root: Path) -> Iterator[str]:
    """A plain static server on a free port: an origin other than Steward's."""
    (root / "index.html").write_text("<!doctype html><title>other origin</title>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_listed_origin_calls_the_api_from_a_browser(browser: Any, engineer: Any, tmp_path: Path) -> None:
    key = ApiKey.issue(engineer)[1]
    (tmp_path / "listed").mkdir()
    (tmp_path / "unlisted").mkdir()
    with page_origin(tmp_path / "listed") as listed, page_origin(tmp_path / "unlisted") as unlisted:
        port = free_port()
        server = start_process(
            ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
            server_env(STEWARD_LANGGRAPH_CORS_ORIGINS=listed),
            tmp_path / "daphne.log",
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, server)
            url = f"{base}/langgraph/assistants/search"
            page = browser.new_page()
            try:
                page.goto(f"{listed}/index.html")
                answer = page.evaluate(SEARCH, [url, key])
                assert answer.get("status") == 200, answer
                assert "refund" in answer["graphs"]

                page.goto(f"{unlisted}/index.html")
                answer = page.evaluate(SEARCH, [url, key])
                assert "blocked" in answer, answer
            finally:
                page.close()
        finally:
            stop_process(server)
