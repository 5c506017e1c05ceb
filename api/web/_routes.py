"""The pages: login and logout, language, triage list, patient, alert actions, draft review, the owner's messages.

Vet pages are for the clinic's team (admin, vet, staff: an owner gets 403); actions on alerts and drafts for vets
(admin, vet). Another clinic's animal, alert or draft is *not found* (404). Every vet action goes through
:mod:`rules._vet`, which writes the audit log; the transaction is committed before the redirect that follows it, so
the next page always shows the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query
from starlette.responses import RedirectResponse, Response

from api import _store_drafts as store
from api._accounts import Principal, RateLimitedError, login, revoke_token
from api._deps import client_address, clinic_filter
from api._errors import AuthError
from api._store_drafts import DraftFilter, DraftRow
from api._store_readings import catalog
from api.web import _charts, _data
from api.web._i18n import LANGUAGES, language_of
from api.web._render import OWNER_PAGES, VET_ACTIONS, VET_PAGES, Ctx, Page, WebRoute, render
from api.web._security import (
    LANG_COOKIE,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    UNIT_COOKIE,
    clear_cookie,
    new_prelogin_token,
    safe_next,
    same_origin,
    set_cookie,
    tokens_match,
)
from rules._errors import AlertError, DraftError
from rules._model import SEVERITY_RANK
from rules._vet import acknowledge, approve, reject, resolve

router = APIRouter(route_class=WebRoute, include_in_schema=False)

YEAR_S = 365 * 24 * 3600
PAGE_MAX = 200


def pending(animal: str | None = None) -> DraftFilter:
    """Pending drafts (of one animal)."""
    return DraftFilter(status=("pending",), animal=animal)


Csrf = Annotated[str, Form(alias="csrf_token")]


def _home(user: Principal | None) -> str:
    if user is None:
        return "/login"
    return "/messages" if user.role == "owner" else "/triage"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- login, logout, language ----------------------------------------------------------------------------------------


@router.get("/")
def index(ctx: Page) -> Response:
    """The start page of the caller's role (the login form when signed out)."""
    return _redirect(_home(ctx.user))


def _login_page(ctx: Ctx, *, status: int = 200, error: str = "", next_path: str = "") -> Response:
    token = ctx.csrf or new_prelogin_token()
    ctx.csrf = token
    response = render(ctx, "login.html", status=status, error=error, next_path=next_path)
    if ctx.request.cookies.get(PRELOGIN_COOKIE) != token:
        set_cookie(response, ctx.request, ctx.settings.api_public_url, PRELOGIN_COOKIE, token, 3600 * 12)
    return response


@router.get("/login")
def get_login(
    ctx: Page,
    next_path: Annotated[str, Query(alias="next", max_length=2000)] = "",
    expired: bool = False,
    bye: bool = False,
) -> Response:
    """The login form."""
    if ctx.user is not None:
        return _redirect(safe_next(next_path, _home(ctx.user)))
    notice = ctx.t("login.expired") if expired or ctx.expired else ctx.t("login.logged_out") if bye else ""
    return _login_page(ctx, error=notice, next_path=safe_next(next_path, ""))


@router.post("/login")
def post_login(
    ctx: Page,
    csrf: Csrf = "",
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    """Check the password (rate-limited), set the session cookie, go where the user was going."""
    prelogin = ctx.request.cookies.get(PRELOGIN_COOKIE)
    if not same_origin(ctx.request, ctx.settings.api_public_url) or not tokens_match(prelogin, csrf):
        raise ctx.fail(403, "error.csrf")
    settings = ctx.settings
    try:
        issued = login(
            ctx.conn,
            username.strip(),
            password,
            address=client_address(ctx.request),
            ttl=timedelta(seconds=settings.api_session_ttl_s),
            max_failures=settings.api_login_max_failures,
            window=timedelta(seconds=settings.api_login_window_s),
        )
    except RateLimitedError as exc:
        response = _login_page(
            ctx, status=429, error=ctx.t("login.limited", minutes=max(1, exc.retry_after // 60)), next_path=next_path
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AuthError:
        ctx.conn.commit()  # the failure counts towards the rate limit
        return _login_page(ctx, status=401, error=ctx.t("login.failed"), next_path=safe_next(next_path, ""))
    ctx.conn.commit()
    response = _redirect(safe_next(next_path, "/messages" if issued.role == "owner" else "/triage"))
    set_cookie(response, ctx.request, settings.api_public_url, SESSION_COOKIE, issued.token, settings.api_session_ttl_s)
    clear_cookie(response, ctx.request, settings.api_public_url, PRELOGIN_COOKIE)
    return response


@router.post("/logout")
def post_logout(ctx: Page, csrf: Csrf = "") -> Response:
    """Revoke the session token and forget the cookie."""
    if ctx.user is None or ctx.session_token is None:
        return _redirect("/login")
    ctx.check_csrf(csrf)
    revoke_token(ctx.conn, ctx.session_token)
    ctx.conn.commit()
    response = _redirect("/login?bye=1")
    clear_cookie(response, ctx.request, ctx.settings.api_public_url, SESSION_COOKIE)
    return response


@router.post("/lang")
def post_lang(
    ctx: Page,
    csrf: Csrf = "",
    lang: Annotated[str, Form(max_length=2)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    """Switch the page's language (kept in a cookie)."""
    ctx.check_csrf(csrf)
    if lang not in LANGUAGES:
        raise ctx.fail(404, "error.404")
    response = _redirect(safe_next(next_path, _home(ctx.user)))
    set_cookie(response, ctx.request, ctx.settings.api_public_url, LANG_COOKIE, language_of(lang), YEAR_S)
    return response


# --- triage ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriageItem:
    """A row of the triage list with what it is ranked by."""

    row: _data.TriageRow
    severity: str | None
    age: timedelta | None
    stale: bool

    @property
    def key(self) -> tuple[int, int, float]:
        """Severity (worst open alert) first, then missing or stale data, then the most recent reading."""
        rank = -1 if self.severity is None else SEVERITY_RANK[self.severity]
        age = self.age.total_seconds() if self.age is not None else float("inf")
        return (-rank, 0 if self.stale else 1, age)


@router.get("/triage")
def get_triage(ctx: Page) -> Response:
    """The clinic's animals, most urgent first."""
    user = ctx.require(VET_PAGES)
    now = datetime.now(UTC)
    rules_dir = ctx.settings.config_dir / "rules"
    items = []
    metrics = [m.name for m in catalog(ctx.settings.config_dir).metrics.values() if not m.device_level]
    for row in _data.triage(ctx.conn, clinic_filter(user), metrics):
        severity = max((a.severity for a in row.alerts), key=SEVERITY_RANK.__getitem__, default=None)
        age = None if row.last_reading is None else max(now - row.last_reading, timedelta(0))
        stale = age is None or age > _charts.stale_by_species(rules_dir, row.animal.species)
        items.append(TriageItem(row, severity, age, stale))
    items.sort(key=lambda i: (*i.key, i.row.animal.name.lower()))
    return render(ctx, "triage.html", items=items, show_clinic=user.role == "admin")


# --- patient --------------------------------------------------------------------------------------------------------


@router.get("/patients/{animal_id}")
def get_patient(
    ctx: Page,
    animal_id: str,
    range_: Annotated[str, Query(alias="range", max_length=8)] = _charts.DEFAULT_RANGE,
    unit: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """Chart of the chosen period with thresholds and alert windows, reports, alerts and drafts of one animal."""
    user = ctx.require(VET_PAGES)
    animal = _data.animal(ctx.conn, clinic_filter(user), animal_id[:64])
    if animal is None:
        raise ctx.fail(404, "error.404")
    range_key = range_ if range_ in _charts.RANGES else _charts.DEFAULT_RANGE
    clinic_unit = _data.clinic_glucose_unit(ctx.conn, animal.clinic_id)
    chosen = _charts.glucose_unit(unit or ctx.request.cookies.get(UNIT_COOKIE), clinic_unit)
    now = datetime.now(UTC)
    window = (now - _charts.RANGES[range_key], now)
    alerts = _data.animal_alerts(ctx.conn, animal, window[0])
    rules = _charts.effective(ctx.conn, ctx.settings.config_dir / "rules", animal)
    if animal.species in _charts.GLUCOSE_SPECIES:
        view = _charts.glucose_view(ctx.conn, animal, rules, alerts, window, chosen, ctx.lang)
    elif animal.species in _charts.EQUINE_SPECIES:
        view = _charts.intake_view(ctx.conn, animal, alerts, window, now, ctx.lang)
    else:
        view = _charts.milk_view(ctx.conn, animal, alerts, window, now, ctx.lang)
    response = render(
        ctx,
        "patient.html",
        animal=animal,
        view=view,
        range_key=range_key,
        ranges=list(_charts.RANGES),
        unit=chosen,
        units=["mg/dL", "mmol/L", "g/L"],
        glucose=animal.species in _charts.GLUCOSE_SPECIES,
        alerts=alerts,
        drafts=store.list_drafts(ctx.conn, clinic_filter(user), pending(animal.id), limit=50)[0],
        last=_data.last_reading(ctx.conn, animal),
        can_act=user.role in VET_ACTIONS,
        done=ctx.request.query_params.get("done", ""),
    )
    if unit is not None and unit == chosen:
        set_cookie(response, ctx.request, ctx.settings.api_public_url, UNIT_COOKIE, chosen, YEAR_S)
    return response


def _alert_action(ctx: Ctx, alert_id: int, csrf: str) -> tuple[Principal, _data.AlertRow]:
    user = ctx.require(VET_PAGES)
    ctx.check_csrf(csrf)
    alert = _data.alert(ctx.conn, clinic_filter(user), alert_id)
    if alert is None:
        raise ctx.fail(404, "error.404")
    if user.role not in VET_ACTIONS:
        raise ctx.fail(403, "error.role_vet")
    return user, alert


def _back_to_patient(alert: _data.AlertRow, next_path: str, done: str) -> str:
    default = f"/patients/{alert.animal_id}" if alert.animal_id else "/triage"
    path, _, query = safe_next(next_path, default).partition("?")
    kept = [(k, v) for k, v in parse_qsl(query) if k != "done"]
    return f"{path}?{urlencode([*kept, ('done', done)])}"


@router.post("/alerts/{alert_id}/acknowledge")
def post_acknowledge(
    ctx: Page, alert_id: int, csrf: Csrf = "", next_path: Annotated[str, Form(alias="next", max_length=2000)] = ""
) -> Response:
    """Acknowledge an open alert."""
    user, alert = _alert_action(ctx, alert_id, csrf)
    try:
        acknowledge(ctx.conn, alert.id, user.name)
    except AlertError as exc:
        raise ctx.fail(409, "error.409", detail=str(exc)) from None
    ctx.conn.commit()
    return _redirect(_back_to_patient(alert, next_path, "acknowledged"))


@router.post("/alerts/{alert_id}/resolve")
def post_resolve(
    ctx: Page,
    alert_id: int,
    csrf: Csrf = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    """Resolve an alert by hand (with an optional note, kept in the audit log)."""
    user, alert = _alert_action(ctx, alert_id, csrf)
    try:
        resolve(ctx.conn, alert.id, user.name, note.strip())
    except AlertError as exc:
        raise ctx.fail(409, "error.409", detail=str(exc)) from None
    ctx.conn.commit()
    return _redirect(_back_to_patient(alert, next_path, "resolved"))


# --- drafts ---------------------------------------------------------------------------------------------------------


@router.get("/drafts")
def get_drafts(ctx: Page) -> Response:
    """The clinic's drafts waiting for a vet."""
    user = ctx.require(VET_PAGES)
    drafts, total = store.list_drafts(ctx.conn, clinic_filter(user), pending(), limit=PAGE_MAX)
    return render(ctx, "drafts.html", drafts=drafts, total=total)


def _draft_page(ctx: Ctx, draft: DraftRow, *, status: int = 200, error: str = "", text: str | None = None) -> Response:
    user = ctx.require(VET_PAGES)
    return render(
        ctx,
        "draft.html",
        status=status,
        draft=draft,
        text=draft.body if text is None else text,
        alerts=_data.alerts_by_id(ctx.conn, draft.clinic_id, draft.alert_ids),
        can_act=user.role in VET_ACTIONS and draft.status == "pending",
        error=error,
        done=ctx.request.query_params.get("done", ""),
    )


def _draft_of(ctx: Ctx, draft_id: int) -> tuple[Principal, DraftRow]:
    user = ctx.require(VET_PAGES)
    draft = store.get_draft(ctx.conn, clinic_filter(user), draft_id)
    if draft is None:
        raise ctx.fail(404, "error.404")
    return user, draft


@router.get("/drafts/{draft_id}")
def get_draft(ctx: Page, draft_id: int) -> Response:
    """One draft: its text in an editable box, approve / approve with edits / reject with a reason."""
    _, draft = _draft_of(ctx, draft_id)
    return _draft_page(ctx, draft)


def _acting_on(ctx: Ctx, draft_id: int, csrf: str) -> tuple[Principal, DraftRow]:
    user, draft = _draft_of(ctx, draft_id)
    ctx.check_csrf(csrf)
    if user.role not in VET_ACTIONS:
        raise ctx.fail(403, "error.role_vet")
    if draft.status != "pending":
        raise ctx.fail(409, "draft.decided", status=ctx.t(f"status.{draft.status}"))
    return user, draft


@router.post("/drafts/{draft_id}/approve")
def post_approve(
    ctx: Page,
    draft_id: int,
    csrf: Csrf = "",
    action: Annotated[str, Form(max_length=16)] = "approve",
    body: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Approve as drafted (``action=approve``) or with the edited text (``action=edit``); the outbox gets the text."""
    user, draft = _acting_on(ctx, draft_id, csrf)
    text = body.replace("\r\n", "\n")
    if action == "edit" and not text.strip():
        return _draft_page(ctx, draft, status=422, error=ctx.t("draft.empty_body"), text=text)
    try:
        approve(ctx.conn, draft.id, user.name, body=text if action == "edit" else None)
    except DraftError as exc:
        raise ctx.fail(409, "error.409", detail=str(exc)) from None
    ctx.conn.commit()
    return _redirect(f"/drafts/{draft.id}?done=approved")


@router.post("/drafts/{draft_id}/reject")
def post_reject(
    ctx: Page,
    draft_id: int,
    csrf: Csrf = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    body: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Reject with a reason (required); nothing is sent."""
    user, draft = _acting_on(ctx, draft_id, csrf)
    if not reason.strip():
        text = body.replace("\r\n", "\n") or None
        return _draft_page(ctx, draft, status=422, error=ctx.t("draft.reason_missing"), text=text)
    try:
        reject(ctx.conn, draft.id, user.name, reason.strip())
    except DraftError as exc:
        raise ctx.fail(409, "error.409", detail=str(exc)) from None
    ctx.conn.commit()
    return _redirect(f"/drafts/{draft.id}?done=rejected")


# --- owners ---------------------------------------------------------------------------------------------------------


@router.get("/messages")
def get_messages(ctx: Page) -> Response:
    """An owner's approved messages about their own animals (the final text only)."""
    user = ctx.require(OWNER_PAGES)
    messages = (
        []
        if user.clinic_id is None or user.owner_id is None
        else store.list_messages(ctx.conn, user.clinic_id, owner=user.owner_id, limit=PAGE_MAX)[0]
    )
    return render(ctx, "messages.html", messages=messages)
