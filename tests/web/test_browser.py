"""The web page in a real browser: Debian's Chromium driven by Playwright against the app served by uvicorn.

Scenario: log in, triage list, patient chart (plotly's SVG with the expected traces and shaded thresholds), approve a
draft with an edit, the outbox row queued with the final text, the delivery worker run once against a real SMTP server
(aiosmtpd) delivers it, the owner reads it on their page. Then the same pages at 390 px
wide and in English. A screenshot of each page goes to ``test-artifacts/screenshots/``. Waiting is Playwright's own
(auto-waiting locators and ``expect`` with timeouts): no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.web.conftest import PASSWORD, LiveServer, MailSink, WebWorld, deliver_once
from vigie.settings import Settings

TIMEOUT_MS = 20_000


@pytest.fixture(autouse=True)
def _expect_timeout() -> None:
    expect.set_options(timeout=TIMEOUT_MS)


class Console:
    """Errors the page reported (script errors, CSP violations, failed loads)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile at 1280 x 900, French."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def _log_in(page: Page, user: str) -> None:
    page.get_by_label("Identifiant").fill(user)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def _chart_ready(page: Page) -> None:
    expect(page.locator("#chart[data-ready='1']")).to_be_attached()
    expect(page.locator("#chart svg.main-svg").first).to_be_visible()


# WCAG 2.1 basics checked in the page itself: one h1, a language, every control and link named, and the contrast of
# every piece of HTML text against its effective background (4.5:1, or 3:1 for large text). The chart's SVG is left
# to plotly (its legend and axes use the colours the server chose, checked by the same ratios in _charts.COLOURS).
A11Y_SCRIPT = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("no lang attribute");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button")) {
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.textContent.trim();
    if (!named) problems.push("unlabelled control " + el.outerHTML.slice(0, 80));
  }
  for (const a of document.querySelectorAll("a")) {
    if (!a.textContent.trim() && !a.getAttribute("aria-label")) problems.push("empty link " + a.outerHTML.slice(0, 80));
  }
  const rgb = (s) => {
    const m = s.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(",").map(parseFloat);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") || el.closest("#chart")) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (st.visibility === "hidden" || st.display === "none" || box.width === 0 || box.height === 0) continue;
    const l1 = lum(rgb(st.color)), l2 = lum(background(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${el.textContent.trim().slice(0, 40)}`);
  }
  return problems;
}"""


def _accessible(page: Page) -> None:
    problems = page.evaluate(A11Y_SCRIPT)
    assert problems == [], f"{page.url}: {problems}"


def _no_horizontal_scroll(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px window"


def test_vet_approves_a_draft_and_the_owner_receives_it(
    live_server: LiveServer,
    web_world: WebWorld,
    context: BrowserContext,
    screenshots: Path,
    db: Any,
    api_settings: Settings,
    mail_sink: MailSink,
) -> None:
    page = context.new_page()
    console = Console(page)
    a = web_world.a

    # the triage list asks for a login first
    page.goto(f"{live_server.url}/triage")
    expect(page).to_have_url(f"{live_server.url}/login?next=/triage")
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    _accessible(page)
    page.screenshot(path=screenshots / "01-login.png", full_page=True)
    _log_in(page, "vet-a")

    # triage: the cat with the urgent alert first, the horse's stale data flagged
    expect(page).to_have_url(f"{live_server.url}/triage")
    expect(page.get_by_role("heading", name="Patients à voir", level=1)).to_be_visible()
    rows = page.locator("#triage tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-animal", "cat-a")
    expect(rows.nth(0)).to_contain_text("Urgent")
    expect(rows.nth(0)).to_contain_text("Hypoglycémie")
    expect(page.locator("tr[data-animal='horse-a']")).to_contain_text("données anciennes")
    _accessible(page)
    page.screenshot(path=screenshots / "02-triage.png", full_page=True)

    # patient: plotly's SVG with the glucose line, insulin and meal markers, thresholds and the alert window shaded
    page.get_by_role("link", name="Minou a").click()
    expect(page).to_have_url(f"{live_server.url}/patients/cat-a")
    expect(page.get_by_role("heading", name="Minou a", level=1)).to_be_visible()
    _chart_ready(page)
    expect(page.locator("#chart .scatterlayer .trace")).to_have_count(3)
    legend = page.locator("#chart .legendtext")
    for name in ("Glycémie (mg/dL)", "Insuline (U)", "Repas (g)", "Hypoglycémie < 70", "Alerte : Hypoglycémie"):
        expect(legend.filter(has_text=name)).to_have_count(1)
    # bands (target, low, severe low, high) and the alert window are drawn as shapes
    assert page.locator("#chart .shapelayer path").count() >= 5
    expect(page.locator("#glucose-report")).to_contain_text("Temps dans la cible")
    expect(page.locator("#cycles tbody tr")).to_have_count(2)
    _accessible(page)
    page.screenshot(path=screenshots / "03-patient.png", full_page=True)

    # the glucose unit and the period are the vet's choice
    page.get_by_label("Unité de glycémie").select_option("mmol/L")
    page.get_by_label("6 heures").check()
    page.get_by_role("button", name="Afficher").click()
    expect(page).to_have_url(f"{live_server.url}/patients/cat-a?range=6h&unit=mmol%2FL")
    _chart_ready(page)
    expect(legend.filter(has_text="Glycémie (mmol/L)")).to_have_count(1)
    expect(legend.filter(has_text="Hypoglycémie < 3,9")).to_have_count(1)
    _accessible(page)
    page.screenshot(path=screenshots / "04-patient-6h-mmol.png", full_page=True)

    # the vet acknowledges the alert from the patient page, and stays on the same view
    alert_row = page.locator(f"tr[data-alert='{a.alert}']")
    alert_row.get_by_role("button", name="Prendre en compte").click()
    expect(page.locator("p[role='status']")).to_have_text("Alerte prise en compte.")
    expect(alert_row.locator(".alert-status")).to_have_text("prise en compte (par Dr A)")
    expect(alert_row.get_by_role("button", name="Prendre en compte")).to_have_count(0)
    assert "range=6h" in page.url

    # the draft: edit, then approve
    page.get_by_role("link", name="Messages à valider").click()
    expect(page.get_by_role("heading", name="Messages à valider", level=1)).to_be_visible()
    _accessible(page)
    page.screenshot(path=screenshots / "05-drafts.png", full_page=True)
    page.locator(f"tr[data-draft='{a.draft}']").get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/drafts/{a.draft}")
    box = page.get_by_label("Texte du message")
    expect(box).to_have_value("Draft for cat-a: glucose was low.")
    _accessible(page)
    page.screenshot(path=screenshots / "06-draft.png", full_page=True)
    final_text = "Bonjour,\nla glycémie de Minou a été basse ce matin. Donnez-lui son repas et rappelez-nous."
    box.fill(final_text)
    page.get_by_role("button", name="Valider avec mes modifications").click()
    expect(page.locator("#draft-done")).to_contain_text("Message validé")
    expect(page.locator("#final-body")).to_have_text(f"{final_text}\nValidé par : Dr A")
    _accessible(page)
    page.screenshot(path=screenshots / "07-draft-approved.png", full_page=True)

    # the owner's delivery: exactly one outbox row, queued, with the final text
    outbox = db.execute("SELECT draft_id, recipient, status, body FROM outbox").fetchall()
    assert outbox == [(a.draft, "owner-a@example.org", "queued", f"{final_text}\nValidé par : Dr A")]
    expect(page.locator("#delivery-status")).to_contain_text("en file d'envoi")

    # the delivery worker, once, against a real SMTP server: the owner's email arrives with the final text
    stats = deliver_once(api_settings, mail_sink)
    assert stats.sent == 1
    assert len(mail_sink.received) == 1
    recipients, mail = mail_sink.received[0]
    assert recipients == ["owner-a@example.org"]
    plain = mail.get_body(("plain",))
    assert plain is not None
    assert f"{final_text}\nValidé par : Dr A" in plain.get_content().replace("\r\n", "\n")
    assert db.execute("SELECT status FROM outbox WHERE draft_id = %s", (a.draft,)).fetchone() == ("sent",)
    page.reload()
    expect(page.locator("#delivery-status")).to_contain_text("envoyé")
    _accessible(page)
    page.screenshot(path=screenshots / "07b-draft-delivered.png", full_page=True)

    # the owner logs in and reads it
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("#login-message")).to_have_text("Vous êtes déconnecté.")
    _log_in(page, "owner-a")
    expect(page).to_have_url(f"{live_server.url}/messages")
    expect(page.locator(f"article[data-draft='{a.draft}'] .message-body")).to_have_text(
        f"{final_text}\nValidé par : Dr A"
    )
    _accessible(page)
    page.screenshot(path=screenshots / "08-owner-messages.png", full_page=True)
    assert console.errors == []
    page.goto(f"{live_server.url}/triage")  # not for owners
    expect(page.get_by_role("heading", name="Oups (403)")).to_be_visible()
    page.screenshot(path=screenshots / "09-owner-forbidden.png", full_page=True)


def test_phone_width_and_english(
    live_server: LiveServer, web_world: WebWorld, browser: Browser, screenshots: Path
) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True, has_touch=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        console = Console(page)
        page.goto(f"{live_server.url}/login")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # the browser's language before login
        # the login rate limit (3 failures per name in these tests) gives a clear message, then even the right
        # password waits
        for _ in range(3):
            page.get_by_label("User name").fill("dr-nobody")
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#login-message")).to_have_text("Wrong user name or password.")
        page.get_by_label("User name").fill("dr-nobody")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-message")).to_have_text("Too many login attempts. For safety, try again in 15 min.")
        _accessible(page)
        page.screenshot(path=screenshots / "m0-login-rate-limited-390.png", full_page=True)
        # Chromium logs each 401 and 429 answer as a failed load: expected here, and only here
        assert all("status of 401" in e or "status of 429" in e for e in console.errors), console.errors
        console.errors.clear()
        page.get_by_label("User name").fill("vet-a")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # vet-a's clinic writes French; the control switches to English and it sticks
        expect(page.get_by_role("heading", name="Patients à voir", level=1)).to_be_visible()
        page.get_by_label("Langue").select_option("en")
        page.get_by_role("button", name="Changer").click()
        expect(page.get_by_role("heading", name="Patients to review", level=1)).to_be_visible()
        _no_horizontal_scroll(page, 390)
        _accessible(page)
        page.screenshot(path=screenshots / "m1-triage-390.png", full_page=True)

        page.get_by_role("link", name="Minou a").click()
        _chart_ready(page)
        expect(page.locator("#chart .legendtext").filter(has_text="Glucose (mg/dL)")).to_have_count(1)
        expect(page.locator("#chart .legendtext").filter(has_text="Hypoglycaemia < 70")).to_have_count(1)
        box = page.locator("#chart").bounding_box()
        assert box is not None
        assert box["width"] <= 390
        _no_horizontal_scroll(page, 390)
        _accessible(page)
        page.screenshot(path=screenshots / "m2-patient-390.png", full_page=True)

        page.goto(f"{live_server.url}/patients/horse-a?range=3d")
        _chart_ready(page)
        expect(page.locator("#chart .barlayer .trace")).to_have_count(1)
        expect(page.get_by_role("heading", name="Daily intake")).to_be_visible()
        _no_horizontal_scroll(page, 390)
        _accessible(page)
        page.screenshot(path=screenshots / "m3-horse-390.png", full_page=True)

        page.goto(f"{live_server.url}/drafts/{web_world.a.draft}")
        expect(page.get_by_role("button", name="Approve as drafted")).to_be_visible()
        # a rejection needs a reason: the browser will not send the form without one
        page.get_by_role("button", name="Reject").click()
        expect(page).to_have_url(f"{live_server.url}/drafts/{web_world.a.draft}")
        assert page.get_by_label("Reason for rejecting (required)").evaluate("el => el.validity.valueMissing")
        _no_horizontal_scroll(page, 390)
        _accessible(page)
        page.screenshot(path=screenshots / "m4-draft-390.png", full_page=True)
        assert console.errors == []
    finally:
        ctx.close()
