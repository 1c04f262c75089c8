"""The console's main pages pass axe-core with no serious or critical violation, in the light and
the dark theme, on a desktop and on a phone.

axe-core is vendored for tests only (tests/browser/vendor/axe.min.js, see its README) and run in
Debian's chromium against pages served by daphne, with real runs, requests, prompts and a dead
letter behind them, as an admin (who sees every page and every control).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.prompts import sync_prompts
from tests.support.api_world import dead_letter
from tests.support.browser import login
from tests.support.runs import approved_refund, waiting_question, waiting_refund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
# What WCAG 2.1 AA asks (and axe's best practices, such as landmarks); run in the page.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ') + (n.any[0] ? ' — ' + n.any[0].message : '')),
  }));
}"""
BLOCKING = ("serious", "critical")
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
HOVERED_CONTRAST = """async () => {
  const result = await axe.run(document.querySelector('a[role=button][aria-current=page]'),
                               {runOnly: ['color-contrast'], resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.any[0] ? n.any[0].message : '')}));
}"""


def _pages(engineer: Any, reviewer: Any, admin: Any) -> dict[str, str]:
    sync_prompts()
    run, request = waiting_refund(engineer)
    finished = approved_refund(engineer, reviewer)
    failed = dead_letter(engineer)
    waiting_question(admin)  # asked of the admin who started it: the inbox's "Asked of you" tab
    return {
        "home": "/",
        "runs list": "/runs/",
        "run page (waiting)": f"/runs/{run.id}/",
        "run page (succeeded)": f"/runs/{finished.id}/",
        "run page (failed)": f"/runs/{failed.run_id}/",
        "inbox": "/approvals/",
        "inbox, asked of you": "/approvals/?asked=1",
        "approval page": f"/approvals/{request.id}/",
        "prompts list": "/prompts/",
        "prompt detail": "/prompts/refund_system/",
        "queues": "/queues/",
        "dead letters": "/dead-letters/",
    }


def _violations(page: Any) -> list[dict[str, Any]]:
    # evaluate() runs outside the page's Content-Security-Policy, which refuses inline scripts.
    page.evaluate(AXE)
    return list(page.evaluate(RUN_AXE))


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_main_pages_have_no_serious_or_critical_axe_violations(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any, admin_user: Any, theme: str, size: str
) -> None:
    pages = _pages(engineer, reviewer, admin_user)
    context = browser.new_context(viewport=SIZES[size], color_scheme=theme)
    context.add_init_script(f"try {{ localStorage.setItem('steward-theme', '{theme}'); }} catch (e) {{}}")
    found: list[str] = []
    try:
        page = login(context, asgi_server, "admin")
        for name, path in pages.items():
            response = page.goto(asgi_server + path)
            assert response is not None and response.status == 200, (name, path, response and response.status)
            page.wait_for_load_state("networkidle")
            # Nothing hovered: the pointer stays where the last click left it otherwise.
            page.mouse.move(0, 0)
            assert page.evaluate("document.documentElement.dataset.theme") == theme
            for violation in _violations(page):
                if violation["impact"] in BLOCKING:
                    nodes = "; ".join(violation["nodes"][:4])
                    found.append(
                        f"{name} ({path}): {violation['impact']} {violation['id']} ({violation['help']}), "
                        f"{len(violation['nodes'])} nodes: {nodes}"
                    )
        # A primary button under the pointer (Pico's hover blue was 4.37:1 behind white in the dark theme).
        page.goto(asgi_server + "/")
        page.hover("a[role=button][aria-current=page]")
        page.evaluate(AXE)
        hovered = page.evaluate(HOVERED_CONTRAST)
        found += [f"home, hovered window button: {v['id']}: {'; '.join(v['nodes'])}" for v in hovered]
    finally:
        context.close()
    assert not found, f"{len(found)} serious or critical axe violations, {theme} theme, {size}:\n" + "\n".join(found)
