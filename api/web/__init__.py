"""The vets' web page, server-rendered (Jinja2), served by the API app: login, triage list, patient charts, alert
actions, draft review, and the owners' approved messages; French and English.

- :mod:`api.web._routes`: the pages and form posts;
- :mod:`api.web._render`: templates, the page context (session, language, CSRF token), HTML error pages;
- :mod:`api.web._security`: cookies, CSRF and origin checks, security headers;
- :mod:`api.web._data`: the queries (tenant-scoped), :mod:`api.web._charts`: chart data and analytics reports;
- :mod:`api.web._i18n`: the string catalog and number/date formats;
- :mod:`api.web._static`: the stylesheet, the chart script and plotly.js from the plotly package (no CDN).

Pages are left out of the OpenAPI document (it describes the JSON API).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.web._routes import router as _pages
from api.web._static import router as _static

router = APIRouter(include_in_schema=False)
router.include_router(_static)
router.include_router(_pages)

__all__ = ["router"]
