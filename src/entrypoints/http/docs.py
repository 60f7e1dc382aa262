"""The API's documentation page (/docs): Swagger UI served from the Python package that ships it,
so it works with no internet (a CDN-loaded page stayed blank offline) and under a content
policy that runs scripts from this origin only (docs/adr/0037).

The page itself has no inline script: it loads Swagger UI's bundle and a small start script
from /docs/assets, which reads the OpenAPI document from /openapi.json. The bundle's folder is
named after its version, so its files may be cached for long.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from entrypoints.http.edge import DOCS_PREFIX

SWAGGER_UI: Path = swagger_ui_path  # .../vendor/swagger-ui-<version>
ASSETS = "/assets"  # under the docs router (DOCS_PREFIX)
BUNDLE = f"{ASSETS}/{SWAGGER_UI.name}"  # versioned: a new release is a new path
START_SCRIPT = f"{ASSETS}/start.js"
OPENAPI_URL = "/openapi.json"
# A versioned file never changes; a week spares the 1.5 MB bundle on every visit.
ASSET_CACHE = CacheControlHeader(max_age=7 * 24 * 60 * 60, public=True)

# BaseLayout: the operations only, without the standalone top bar (whose box loads any URL).
# validatorUrl null: the default posts the document to validator.swagger.io.
_START = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{OPENAPI_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
""".encode()


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Litestar's render plugin for /docs (and /docs/swagger, where it used to be), pointing
    at the packaged assets instead of jsDelivr."""

    def __init__(self) -> None:
        bundle = f"{DOCS_PREFIX}{BUNDLE}"
        super().__init__(
            path=["/", "/swagger"],
            favicon=f'<link rel="icon" type="image/png" href="{bundle}/favicon-32x32.png">',
            style="",
        )
        self.css_url = f"{bundle}/swagger-ui.css"
        self.js_url = f"{bundle}/swagger-ui-bundle.js"
        self.start_url = f"{DOCS_PREFIX}{START_SCRIPT}"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(openapi_schema["info"]["title"])
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API</title>
  {self.favicon}
  <link rel="stylesheet" href="{self.css_url}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{self.js_url}"></script>
  <script src="{self.start_url}"></script>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        """Serve the assets beside the page, inside the docs router (no sign-in, the docs'
        content policy)."""
        router.register(
            create_static_files_router(
                path=BUNDLE,
                directories=[SWAGGER_UI],
                name="docs-assets",
                cache_control=ASSET_CACHE,
            )
        )
        # A handler of its own per app: Litestar binds a handler to the app it joins.
        start = get(START_SCRIPT, media_type="text/javascript", include_in_schema=False)
        router.register(start(_start_script))


async def _start_script() -> bytes:
    return _START
