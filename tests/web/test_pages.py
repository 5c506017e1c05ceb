"""The web pages through the real app in-process (TestClient): login and cookies, CSRF, roles and tenancy, the
triage ranking, the patient chart's data, draft review, the owner's messages, French and English, static files."""

from __future__ import annotations

import gzip
import html
import json
import re
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.web._i18n import CATALOG, fmt_number
from tests.web.conftest import PASSWORD, WebWorld, csrf_of, log_in


def _cookie_header(response: Any, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return str(headers[0])


def _chart(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert match is not None, "no chart data in the page"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_login_sets_a_strict_httponly_session_cookie(client: TestClient, web_world: WebWorld) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    prelogin = _cookie_header(page, "vigie_csrf").lower()
    assert "httponly" in prelogin
    assert "samesite=strict" in prelogin
    assert "path=/" in prelogin
    r = client.post("/login", data={"username": "vet-a", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert r.headers["location"] == "/triage"
    cookie = _cookie_header(r, "vigie_session").lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # plain http on loopback: a Secure cookie would never come back
    triage = client.get("/triage")
    assert triage.status_code == 200
    assert "Patients à voir" in triage.text


def test_session_cookie_is_secure_over_https(api_settings: Any, web_world: WebWorld) -> None:
    from api._app import create_app

    with TestClient(create_app(api_settings), base_url="https://testserver", follow_redirects=False) as c:
        page = c.get("/login")
        assert "secure" in _cookie_header(page, "vigie_csrf").lower()
        r = c.post("/login", data={"username": "vet-a", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        assert "secure" in _cookie_header(r, "vigie_session").lower()


def test_wrong_password_shows_the_form_again(client: TestClient, web_world: WebWorld) -> None:
    page = client.get("/login")
    r = client.post(
        "/login", data={"username": "vet-a", "password": "wrong-password", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in r.text
    assert "vigie_session" not in r.headers.get("set-cookie", "")


def test_login_rate_limit_gives_a_clear_429(client: TestClient, web_world: WebWorld) -> None:
    token = csrf_of(client.get("/login").text)
    for _ in range(3):  # api_settings: 3 failures per user in the window
        r = client.post("/login", data={"username": "vet-a", "password": "wrong-password", "csrf_token": token})
        assert r.status_code == 401
    r = client.post("/login", data={"username": "vet-a", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "Trop de tentatives de connexion" in r.text
    assert "vigie_session" not in r.headers.get("set-cookie", "")


def test_login_with_control_characters_is_a_plain_refusal(client: TestClient, web_world: WebWorld) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "vet-a\x00", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 401  # was a 500: PostgreSQL text holds no NUL
    r = client.post("/login", data={"username": "x" * 300, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 422


def test_login_without_csrf_token_or_from_another_site_is_refused(client: TestClient, web_world: WebWorld) -> None:
    token = csrf_of(client.get("/login").text)
    form = {"username": "vet-a", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403
    assert client.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    r = client.post("/login", data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert "vigie_session" not in r.headers.get("set-cookie", "")
    ok = client.post("/login", data={**form, "csrf_token": token}, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303


def test_posts_need_the_session_csrf_token_and_this_origin(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    draft = web_world.a.draft
    url = f"/drafts/{draft}/approve"
    assert client.post(url, data={"action": "approve"}).status_code == 403
    assert client.post(url, data={"action": "approve", "csrf_token": "x" * 64}).status_code == 403
    evil = client.post(url, data={"action": "approve", "csrf_token": csrf}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    referer = client.post(
        url, data={"action": "approve", "csrf_token": csrf}, headers={"Referer": "https://evil.example/page"}
    )
    assert referer.status_code == 403
    assert "La page a expiré ou la demande ne vient pas de Vigie" in referer.text
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (draft,)).fetchone() == ("pending",)
    assert db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    ok = client.post(url, data={"action": "approve", "csrf_token": csrf}, headers={"Origin": "http://testserver"})
    assert ok.status_code == 303
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (draft,)).fetchone() == ("approved",)


def test_pages_redirect_to_login_and_back(client: TestClient, web_world: WebWorld) -> None:
    r = client.get("/patients/cat-a?range=6h")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/patients/cat-a%3Frange%3D6h"
    page = client.get(r.headers["location"])
    r = client.post(
        "/login",
        data={
            "username": "vet-a",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/patients/cat-a?range=6h",
        },
    )
    assert r.headers["location"] == "/patients/cat-a?range=6h"
    # never to another site
    page = client.get("/login")
    assert 'value="//evil.example"' not in client.get("/login?next=//evil.example").text


def test_logout_revokes_the_session(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    assert client.post("/logout", data={}).status_code == 403
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert db.execute("SELECT count(*) FROM api_tokens WHERE kind = 'session' AND revoked_at IS NULL").fetchone() == (
        0,
    )
    assert client.get("/triage").status_code == 303


def test_another_clinics_patient_alert_and_draft_are_not_found(
    client: TestClient, web_world: WebWorld, db: Any
) -> None:
    csrf = log_in(client, "vet-a")
    b = web_world.b
    assert client.get(f"/patients/{b.cat}").status_code == 404
    assert client.get("/patients/no-such-animal").status_code == 404
    assert client.get(f"/drafts/{b.draft}").status_code == 404
    assert client.post(f"/drafts/{b.draft}/approve", data={"csrf_token": csrf, "action": "approve"}).status_code == 404
    assert client.post(f"/drafts/{b.draft}/reject", data={"csrf_token": csrf, "reason": "no"}).status_code == 404
    assert client.post(f"/alerts/{b.alert}/acknowledge", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/alerts/{b.alert}/resolve", data={"csrf_token": csrf}).status_code == 404
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (b.draft,)).fetchone() == ("pending",)
    assert db.execute("SELECT status FROM alerts WHERE id = %s", (b.alert,)).fetchone() == ("open",)
    triage = client.get("/triage").text
    assert "Minou a" in triage
    assert "Minou b" not in triage


def test_owner_cannot_open_the_vet_pages(client: TestClient, web_world: WebWorld) -> None:
    log_in(client, "owner-a")
    a = web_world.a
    for url in ("/triage", f"/patients/{a.cat}", "/drafts", f"/drafts/{a.draft}"):
        r = client.get(url)
        assert r.status_code == 403, url
        assert "réservée à l'équipe de la clinique" in html.unescape(r.text)
    assert client.get("/").headers["location"] == "/messages"
    assert client.get("/messages").status_code == 200


def test_owner_sees_only_their_own_approved_messages(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    a = web_world.a
    r = client.post(
        f"/drafts/{a.draft}/approve", data={"csrf_token": csrf, "action": "edit", "body": "Bonjour,\r\nTout va bien."}
    )
    assert r.status_code == 303
    # another pending draft of the same owner's cat stays invisible
    db.execute(
        "INSERT INTO drafts (clinic_id, animal_id, audience, language, body) VALUES (%s, %s, 'owner', 'fr', 'SECRET pending')",
        (a.id, a.cat),
    )
    client.post("/logout", data={"csrf_token": csrf})
    log_in(client, "owner-a")
    page = client.get("/messages").text
    assert "Bonjour,\nTout va bien.\nValidé par : Dr A" in page
    assert "SECRET pending" not in page
    assert "Draft for cat-a" not in page  # the text as drafted is never shown, only the final one
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    log_in(client, "owner-b")
    assert "Tout va bien" not in client.get("/messages").text


def test_triage_ranks_by_severity_then_stale_data(client: TestClient, web_world: WebWorld, db: Any) -> None:
    log_in(client, "vet-a")
    html = client.get("/triage").text
    order = re.findall(r'<tr data-animal="([^"]+)"', html)
    assert order == ["cat-a", "horse-a", "cow-a"]  # urgent alert; then the horse, whose data are 9 h old
    horse_row = html.split('data-animal="horse-a"')[1].split("</tr>")[0]
    assert "données anciennes" in horse_row
    assert "il y a 9 h" in horse_row
    cat_row = html.split('data-animal="cat-a"')[1].split("</tr>")[0]
    assert "Urgent" in cat_row
    assert "Hypoglycémie" in cat_row
    assert "1 à valider" in cat_row


def test_patient_chart_data_thresholds_and_events_in_the_chosen_unit(client: TestClient, web_world: WebWorld) -> None:
    log_in(client, "vet-a")
    page = client.get("/patients/cat-a")
    assert page.status_code == 200
    chart = _chart(page.text)
    names = [t["name"] for t in chart["traces"]]
    assert names == ["Glycémie (mg/dL)", "Insuline (U)", "Repas (g)"]
    glucose, insulin, meal = chart["traces"]
    assert len(glucose["x"]) == 288  # 24 h of 5-min readings
    assert insulin["y"] == [2.0, 2.5]
    assert meal["y"] == [40.0, 45.0]
    labels = {b["label"]: (b["y0"], b["y1"]) for b in chart["bands"]}
    assert labels["Hypoglycémie < 70"] == (
        0.0,
        70.0,
    )  # from the effective rules: a cat's threshold (config/rules/pet.toml)
    assert labels["Hypoglycémie sévère < 50"] == (0.0, 50.0)
    assert labels["Hyperglycémie > 400"] == (400.0, None)
    assert [w["label"] for w in chart["windows"]] == ["Alerte : Hypoglycémie"]
    assert chart["separators"] == ", "
    # the glucose-curve report: nadir, duration, time in range
    assert 'id="glucose-report"' in page.text
    assert 'id="cycles"' in page.text
    assert "Temps dans la cible (80\u2013250)" in page.text
    mmol = _chart(client.get("/patients/cat-a?unit=mmol/L&range=6h").text)
    assert mmol["traces"][0]["name"] == "Glycémie (mmol/L)"
    assert {b["label"] for b in mmol["bands"]} >= {"Hypoglycémie < 3,9", "Hyperglycémie > 22,2"}
    assert len(mmol["traces"][0]["x"]) == 72
    assert mmol["traces"][1]["y"] == [2.5]  # only the dose of 2 h ago is in the last 6 h
    # the unit chosen sticks (cookie) until changed
    again = _chart(client.get("/patients/cat-a").text)
    assert again["traces"][0]["name"] == "Glycémie (mmol/L)"
    grams = _chart(client.get("/patients/cat-a?unit=g/L").text)
    assert "Hypoglycémie < 0,70" in {b["label"] for b in grams["bands"]}


def test_horse_and_cow_pages(client: TestClient, web_world: WebWorld) -> None:
    log_in(client, "vet-a")
    horse = client.get("/patients/horse-a?range=3d")
    assert horse.status_code == 200
    assert [t["name"] for t in _chart(horse.text)["traces"]] == ["Fourrage par visite (kg)", "Eau par visite (L)"]
    assert "Consommation quotidienne" in horse.text
    assert "% de référence" in horse.text
    quiet = client.get("/patients/horse-a?range=6h").text  # the feeder has been silent for 9 h
    assert 'id="chart-empty"' in quiet
    assert "plotly.min.js" not in quiet
    cow = client.get("/patients/cow-a?range=3d")
    assert cow.status_code == 200
    assert [t["name"] for t in _chart(cow.text)["traces"]] == ["Lait par traite (kg)"]
    assert "Production laitière" in cow.text
    assert "Lait (kg/24 h)" in cow.text
    assert "Courbe de lactation" in html.unescape(cow.text)


def test_alert_acknowledge_and_resolve(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    alert = web_world.a.alert
    r = client.post(f"/alerts/{alert}/acknowledge", data={"csrf_token": csrf, "next": "/patients/cat-a"})
    assert r.status_code == 303
    assert r.headers["location"] == "/patients/cat-a?done=acknowledged"
    assert "Alerte prise en compte." in client.get(r.headers["location"]).text
    assert client.post(f"/alerts/{alert}/acknowledge", data={"csrf_token": csrf}).status_code == 409
    r = client.post(f"/alerts/{alert}/resolve", data={"csrf_token": csrf, "note": "vu au téléphone"})
    assert r.status_code == 303
    row = db.execute("SELECT status, acknowledged_by, resolved_by FROM alerts WHERE id = %s", (alert,)).fetchone()
    assert row == ("resolved", "Dr A", "Dr A")
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log WHERE object_id = %s ORDER BY id", (str(alert),))]
    assert actions == ["alert.acknowledge", "alert.resolve"]


def test_staff_may_read_but_not_act(client: TestClient, web_world: WebWorld, db_dsn: str) -> None:
    from api._accounts import add_user

    with psycopg.connect(db_dsn) as conn:
        add_user(conn, "nurse-a", role="staff", clinic=web_world.a.id, password=PASSWORD)
    csrf = log_in(client, "nurse-a")
    assert client.get(f"/drafts/{web_world.a.draft}").status_code == 200
    assert 'id="approve-form"' not in client.get(f"/drafts/{web_world.a.draft}").text
    r = client.post(f"/drafts/{web_world.a.draft}/approve", data={"csrf_token": csrf, "action": "approve"})
    assert r.status_code == 403


def test_draft_review_edit_approve_and_reject_with_a_reason(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    a = web_world.a
    page = client.get(f"/drafts/{a.draft}")
    assert page.status_code == 200
    assert "Draft for cat-a: glucose was low." in page.text
    # a rejection needs a reason
    r = client.post(f"/drafts/{a.draft}/reject", data={"csrf_token": csrf, "reason": "  "})
    assert r.status_code == 422
    assert "Indiquez le motif du refus." in r.text
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (a.draft,)).fetchone() == ("pending",)
    # an edit that empties the text is refused
    r = client.post(f"/drafts/{a.draft}/approve", data={"csrf_token": csrf, "action": "edit", "body": " \r\n "})
    assert r.status_code == 422
    # edit then approve: the final text (with the vet's signature) is queued once
    r = client.post(f"/drafts/{a.draft}/approve", data={"csrf_token": csrf, "action": "edit", "body": "Texte corrigé."})
    assert r.status_code == 303
    done = client.get(r.headers["location"])
    assert "Message validé" in done.text
    row = db.execute("SELECT status, final_body, decided_by FROM drafts WHERE id = %s", (a.draft,)).fetchone()
    assert row == ("edited", "Texte corrigé.\nValidé par : Dr A", "Dr A")
    outbox = db.execute("SELECT body, status, recipient FROM outbox WHERE draft_id = %s", (a.draft,)).fetchall()
    assert outbox == [("Texte corrigé.\nValidé par : Dr A", "queued", "owner-a@example.org")]
    # deciding twice is refused
    r = client.post(f"/drafts/{a.draft}/approve", data={"csrf_token": csrf, "action": "approve"})
    assert r.status_code == 409
    # a second draft, rejected with a reason: nothing queued
    new = db.execute(
        "INSERT INTO drafts (clinic_id, animal_id, audience, language, body) VALUES (%s, %s, 'owner', 'fr', 'x') RETURNING id",
        (a.id, a.cat),
    ).fetchone()[0]
    r = client.post(f"/drafts/{new}/reject", data={"csrf_token": csrf, "reason": "Déjà appelé le propriétaire"})
    assert r.status_code == 303
    assert "Message refusé" in client.get(r.headers["location"]).text
    assert db.execute("SELECT status, reject_reason FROM drafts WHERE id = %s", (new,)).fetchone() == (
        "rejected",
        "Déjà appelé le propriétaire",
    )
    assert db.execute("SELECT count(*) FROM outbox WHERE draft_id = %s", (new,)).fetchone() == (0,)
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log WHERE object_type = 'draft' ORDER BY id")]
    assert actions == ["draft.edit_approve", "outbox.queue", "draft.reject"]


def test_approve_as_drafted_ignores_the_text_box(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    a = web_world.a
    r = client.post(f"/drafts/{a.draft}/approve", data={"csrf_token": csrf, "action": "approve", "body": "changed"})
    assert r.status_code == 303
    assert db.execute("SELECT status, final_body FROM drafts WHERE id = %s", (a.draft,)).fetchone() == (
        "approved",
        "Draft for cat-a: glucose was low.\nValidé par : Dr A",
    )


def test_user_text_is_escaped(client: TestClient, web_world: WebWorld, db: Any) -> None:
    a = web_world.a
    db.execute("UPDATE drafts SET body = %s WHERE id = %s", ("</textarea><script>alert(1)</script>", a.draft))
    db.execute("UPDATE animals SET name = %s WHERE id = %s", ("<img src=x onerror=alert(1)>", a.cat))
    log_in(client, "vet-a")
    for url in (f"/drafts/{a.draft}", "/triage", "/drafts", f"/patients/{a.cat}"):
        page = client.get(url).text
        assert "<script>alert(1)" not in page, url
        assert "<img src=x" not in page, url
        assert "&lt;" in page
    # the chart's JSON block cannot be closed early by a name, and reads back intact
    name = "</script><script>alert(2)</script>"
    db.execute("UPDATE animals SET name = %s WHERE id = %s", (name, a.cat))
    page = client.get(f"/patients/{a.cat}").text
    assert "<script>alert(2)" not in page
    assert _chart(page)["filename"] == f"vigie-{name}"


def test_french_and_english(client: TestClient, web_world: WebWorld) -> None:
    # vet-a's clinic writes French, vet-b's English
    csrf = log_in(client, "vet-a")
    page = client.get("/patients/cat-a").text
    assert '<html lang="fr">' in page
    assert "Patients à voir" in page
    assert "Période" in page
    r = client.post("/lang", data={"csrf_token": csrf, "lang": "en", "next": "/patients/cat-a"})
    assert r.status_code == 303
    assert r.headers["location"] == "/patients/cat-a"
    page = client.get("/patients/cat-a").text
    assert '<html lang="en">' in page
    assert "Triage" in page
    assert "Period" in page
    chart = _chart(page)
    assert chart["traces"][0]["name"] == "Glucose (mg/dL)"
    assert chart["separators"] == ".,"
    assert "Hypoglycaemia < 70" in {b["label"] for b in chart["bands"]}
    assert client.post("/lang", data={"lang": "fr"}).status_code == 403  # CSRF here too
    client.cookies.clear()  # another browser
    log_in(client, "vet-b")
    assert "Patients to review" in client.get("/triage").text


def test_login_page_language_follows_the_browser(client: TestClient, web_world: WebWorld) -> None:
    assert "Log in" in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    assert "Connexion" in client.get("/login", headers={"Accept-Language": "fr-FR"}).text


def test_catalog_is_complete_and_numbers_follow_the_language() -> None:
    for key, (fr, en) in CATALOG.items():
        assert fr, key
        assert en, key
        assert sorted(re.findall(r"{(\w+)}", fr)) == sorted(re.findall(r"{(\w+)}", en)), key
    assert fmt_number(12345.67, "fr", 1) == "12\u202f345,7"
    assert fmt_number(12345.67, "en", 1) == "12,345.7"
    assert fmt_number(None, "en") == "\u2013"


def test_plotly_is_served_from_the_package_cached(client: TestClient) -> None:
    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "immutable" in r.headers["cache-control"]
    assert b"plotly" in r.content[:2000].lower()
    assert client.get("/static/vendor/plotly.min.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    raw = client.get("/static/vendor/plotly.min.js", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/static/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers.get("content-encoding") == "gzip"
    assert zipped.content == raw.content  # httpx decompresses: the same file
    assert len(gzip.compress(raw.content)) < len(raw.content) / 2
    assert client.get("/static/web/app.css").status_code == 200
    assert client.get("/static/web/chart.js").status_code == 200
    assert client.get("/static/web/../_routes.py").status_code == 404
    assert client.get("/static/web/secrets.txt").status_code == 404


def test_pages_carry_security_headers_and_stay_out_of_the_openapi_document(
    client: TestClient, web_world: WebWorld
) -> None:
    r = client.get("/login")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/")]


def test_an_ended_session_sends_back_to_the_login_form(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    db.execute("UPDATE api_tokens SET revoked_at = now() WHERE kind = 'session'")
    r = client.post(f"/drafts/{web_world.a.draft}/approve", data={"csrf_token": csrf, "action": "approve"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/&expired=1"
    assert "Votre session a expiré" in html.unescape(client.get(r.headers["location"]).text)
    assert db.execute("SELECT status FROM drafts WHERE id = %s", (web_world.a.draft,)).fetchone() == ("pending",)


def test_admin_sees_every_clinic(client: TestClient, web_world: WebWorld) -> None:
    log_in(client, "root-admin")
    page = html.unescape(client.get("/triage").text)
    assert "Minou a" in page
    assert "Minou b" in page
    assert "Clinic B" in page  # the clinic column appears for an admin only
    assert client.get(f"/patients/{web_world.b.cat}").status_code == 200
    assert client.get(f"/drafts/{web_world.b.draft}").status_code == 200


def test_long_series_are_thinned_keeping_lows_and_highs() -> None:
    from datetime import UTC, datetime, timedelta

    from api.web._charts import MAX_POINTS, _thin

    start = datetime(2026, 11, 1, tzinfo=UTC)
    points = [(start + timedelta(minutes=i), 150.0) for i in range(20_160)]  # 14 days of 1-minute CGM
    points[7_000] = (points[7_000][0], 38.0)  # one severe low
    points[12_345] = (points[12_345][0], 512.0)
    thinned = _thin(points)
    assert len(thinned) <= MAX_POINTS
    values = [v for _, v in thinned]
    assert min(values) == 38.0
    assert max(values) == 512.0
    assert [t for t, _ in thinned] == sorted(t for t, _ in thinned)


def test_redirect_targets_stay_on_this_site() -> None:
    from api.web._security import safe_next

    for bad in ("//evil.example/x", "https://evil.example", "\\\\evil", "/\\evil.example", "", "javascript:alert(1)"):
        assert safe_next(bad, "/triage") == "/triage", bad
    assert safe_next("/patients/cat-a?range=6h", "/triage") == "/patients/cat-a?range=6h"


def test_behind_an_https_proxy_the_public_url_decides(api_settings: Any, web_world: WebWorld) -> None:
    from api._app import create_app

    settings = api_settings.model_copy(update={"api_public_url": "https://vigie.example"})
    with TestClient(create_app(settings), follow_redirects=False) as c:
        page = c.get("/login")
        assert "secure" in _cookie_header(page, "vigie_csrf").lower()
        token = csrf_of(page.text)
        form = {"username": "vet-a", "password": PASSWORD, "csrf_token": token}
        # the browser talks https to the proxy, so it sends the Secure cookie back (the test client, on http, would not)
        headers = {"Origin": "https://vigie.example", "Cookie": f"vigie_csrf={token}"}
        r = c.post("/login", data=form, headers=headers)  # the proxy's origin is ours
        assert r.status_code == 303
        assert "secure" in _cookie_header(r, "vigie_session").lower()


def test_a_cow_s_lactation_is_fitted_from_her_calving_date(client: TestClient, web_world: WebWorld, db: Any) -> None:
    csrf = log_in(client, "vet-a")
    unknown = html.unescape(client.get("/patients/cow-a?range=3d").text)
    assert "date de vêlage inconnue" in unknown
    assert "pic estimé" not in unknown  # no peak day from an assumed calving
    db.execute(
        "UPDATE animals SET calving_date = (now() AT TIME ZONE 'Europe/Paris')::date - 50 WHERE id = %s",
        (web_world.a.cow,),
    )
    known = html.unescape(client.get("/patients/cow-a?range=3d").text)
    assert "jour 50 de lactation" in known
    assert "Courbe de lactation (Wood) : pic estimé au jour" in known
    assert client.post("/lang", data={"csrf_token": csrf, "lang": "en", "next": "/"}).status_code == 303
    english = html.unescape(client.get("/patients/cow-a?range=3d").text)
    assert "Calved on" in english
    assert "day 50 in milk" in english
