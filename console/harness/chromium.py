"""Debian's chromium, launched the same way by the browser tests and `manage.py bench_live`
(Playwright cannot download a browser of its own on these machines)."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
