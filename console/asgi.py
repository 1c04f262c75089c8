"""ASGI entry point: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

if settings.SERVE_STATIC:
    # The embedded server and small installs have no web server in front to serve /static/.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from console.kernel import daphne_backpressure  # noqa: E402
from console.kernel.websocket_origin import OriginValidator  # noqa: E402
from console.routing import websocket_urlpatterns  # noqa: E402

# A streamed response waits for a client that stops reading instead of piling up in daphne.
daphne_backpressure.install()

# Everything loaded so far lives as long as the process: keep it out of the collector's full
# passes, which otherwise pause a large response for 100+ ms (measured on the approvals list).
gc.collect()
gc.freeze()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Only pages of this site may open a socket (console/kernel/websocket_origin.py); then the
        # session's user, and each subscription is checked against them (console/web/consumers.py).
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
