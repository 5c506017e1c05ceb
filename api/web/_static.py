"""Static files of the web page: its own CSS and script, and plotly.js from the installed ``plotly`` package.

Files are read once per process through importlib.resources, served with a content hash as ETag (304 on a match),
gzip-compressed when the browser accepts it, and cached for a year: pages link them with ``?v=<hash>``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.web._security import secure_headers

router = APIRouter(include_in_schema=False)

OWN_FILES: Final = {"app.css": "text/css; charset=utf-8", "chart.js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    """A static file in memory."""

    body: bytes
    gzipped: bytes
    media_type: str
    etag: str

    @property
    def version(self) -> str:
        """What pages append to the URL (``?v=``) so that a new version is fetched at once."""
        return self.etag.strip('"')[:12]


def _asset(body: bytes, media_type: str) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, gzip.compress(body, compresslevel=6, mtime=0), media_type, f'"{digest}"')


@lru_cache(maxsize=1)
def plotly_js() -> Asset:
    """``plotly.min.js`` as shipped by the plotly PyPI package."""
    body = importlib.resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return _asset(body, "text/javascript; charset=utf-8")


@lru_cache(maxsize=len(OWN_FILES))
def own(name: str) -> Asset:
    """One of the page's own static files (``api/web/static``)."""
    body = importlib.resources.files("api.web").joinpath("static", name).read_bytes()
    return _asset(body, OWN_FILES[name])


def versions() -> dict[str, str]:
    """The ``?v=`` of each file the pages link."""
    return {"plotly": plotly_js().version, **{name: own(name).version for name in OWN_FILES}}


def _serve(request: Request, asset: Asset) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        response = Response(status_code=304, headers=headers)
    elif "gzip" in request.headers.get("accept-encoding", ""):
        response = Response(asset.gzipped, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"})
    else:
        response = Response(asset.body, media_type=asset.media_type, headers=headers)
    secure_headers(response, cache=True)
    return response


@router.get("/static/vendor/plotly.min.js")
def get_plotly(request: Request) -> Response:
    """plotly.js (no CDN: the machine serving Vigie may have no internet)."""
    return _serve(request, plotly_js())


@router.get("/static/web/{name}")
def get_own(name: str, request: Request) -> Response:
    """The page's stylesheet and chart script."""
    if name not in OWN_FILES:
        return Response("not found", status_code=404, media_type="text/plain")
    return _serve(request, own(name))
