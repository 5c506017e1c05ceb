"""Expectations of the care routes (alerts, drafts, messages, rules and overrides, audit log) for the authorization
matrix (tests/api/authz.py).

Alerts: admins, vets and staff read and acknowledge; only vets (and admins) resolve. Drafts: admins, vets and staff
read; only vets (and admins) approve or reject. Messages (approved drafts): the clinic's people, and an owner for
their own animals only. Rules: the clinic's people read; vets (and admins) set and remove overrides. Audit log: vets
and admins. An owner never reads an alert or a draft (403), and a device may do nothing here (403).
"""

from __future__ import annotations

from tests.api.authz import READERS, VETS, Expect

OWNER_READERS = READERS | {"owner"}
ALERT = {"alert_id": "alert"}
DRAFT = {"draft_id": "draft"}
ANIMAL_RULE = {"animal_id": "animal", "rule_id": "=hypoglycemia"}
CLINIC_RULE = {"clinic_id": "clinic", "rule_id": "=hypoglycemia"}
OVERRIDE = {"params": {"threshold": 68, "clear": 78}, "reason": "matrix"}

EXPECTED: dict[tuple[str, str], Expect] = {
    # alerts
    ("GET", "/api/v1/alerts"): Expect(roles=READERS),
    ("GET", "/api/v1/alerts/{alert_id}"): Expect(roles=READERS, params=ALERT),
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): Expect(roles=READERS, params=ALERT),
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): Expect(roles=VETS, params=ALERT, body={"note": "seen"}),
    # drafts (the world's draft is pending)
    ("GET", "/api/v1/drafts"): Expect(roles=READERS),
    ("GET", "/api/v1/drafts/{draft_id}"): Expect(roles=READERS, params=DRAFT),
    ("POST", "/api/v1/drafts/{draft_id}/approve"): Expect(roles=VETS, params=DRAFT),
    ("POST", "/api/v1/drafts/{draft_id}/reject"): Expect(roles=VETS, params=DRAFT, body={"reason": "not now"}),
    # messages (the world's message is an approved draft about the owner's cat)
    ("GET", "/api/v1/messages"): Expect(roles=OWNER_READERS),
    ("GET", "/api/v1/messages/{message_id}"): Expect(roles=OWNER_READERS, params={"message_id": "message"}),
    # rules and overrides (the world has a clinic-wide and a per-cat override of hypoglycemia)
    ("GET", "/api/v1/rules"): Expect(roles=READERS),
    ("GET", "/api/v1/animals/{animal_id}/rules"): Expect(roles=READERS, params={"animal_id": "animal"}),
    ("PUT", "/api/v1/animals/{animal_id}/rules/{rule_id}/override"): Expect(
        roles=VETS, params=ANIMAL_RULE, body=OVERRIDE
    ),
    ("DELETE", "/api/v1/animals/{animal_id}/rules/{rule_id}/override"): Expect(roles=VETS, params=ANIMAL_RULE),
    ("GET", "/api/v1/clinics/{clinic_id}/rule-overrides"): Expect(roles=READERS, params={"clinic_id": "clinic"}),
    ("PUT", "/api/v1/clinics/{clinic_id}/rules/{rule_id}/override"): Expect(
        roles=VETS, params=CLINIC_RULE, body=OVERRIDE
    ),
    ("DELETE", "/api/v1/clinics/{clinic_id}/rules/{rule_id}/override"): Expect(roles=VETS, ok=204, params=CLINIC_RULE),
    # audit log
    ("GET", "/api/v1/audit"): Expect(roles=VETS),
}
