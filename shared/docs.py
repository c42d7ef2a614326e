"""The operators' API pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served entirely from the
service's own host: their scripts, stylesheet and favicon come from the installed fastapi-offline
package, because FastAPI's defaults fetch them (and Google Fonts) from public CDNs, which leaves
blank pages on the isolated networks the offices run on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/static-docs"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
# Swagger UI would otherwise ask validator.swagger.io to check the document (off the host).
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}
# The pages may load nothing from another host: ReDoc's menu, for one, shows Redocly's logo from
# cdn.redoc.ly, which would tell that host an office opened its docs. Inline scripts and styles are
# the pages' own (Swagger UI's start-up script, ReDoc's styled components); ReDoc searches in a blob: worker.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self' 'unsafe-inline'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "font-src 'self' data:", "worker-src 'self' blob:", "connect-src 'self'",
    "base-uri 'self'", "form-action 'self'", "frame-ancestors 'self'",
))


def install_offline_docs(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` on `app`, open like `/openapi.json` and left out of the schema, with
    every asset at `/static-docs/...` on the same host (behind a proxy, under the request's root
    path); each page carries a Content-Security-Policy that lets the browser load only from that
    host. The app must be made with `docs_url=None, redoc_url=None`, so FastAPI's CDN pages are not
    served too."""
    if app.docs_url or app.redoc_url:
        raise ValueError("make the app with docs_url=None and redoc_url=None: install_offline_docs serves them")
    if app.openapi_url is None:
        raise ValueError("the docs pages need the OpenAPI document, and this app serves none")
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="static-docs")

    def assets(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_URL}"

    def confined(page: HTMLResponse) -> HTMLResponse:
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        # Bearer tokens only (no OAuth2 flow), so Swagger UI needs no oauth2-redirect page.
        return confined(get_swagger_ui_html(
            openapi_url=f"{request.scope.get('root_path', '')}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets(request)}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets(request)}/swagger-ui.css",
            swagger_favicon_url=f"{assets(request)}/favicon.png",
            swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
        ))

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return confined(get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets(request)}/redoc.standalone.js",
            redoc_favicon_url=f"{assets(request)}/favicon.png",
            with_google_fonts=False,
        ))
