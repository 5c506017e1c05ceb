"""What the delivery worker passes around: a claimed message, a send error, the retry delay. Pure, no I/O."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Channel = Literal["email", "webhook"]
CHANNELS: tuple[Channel, ...] = ("email", "webhook")
ACTOR = "vigie-deliver"  # the audit log's actor for everything the worker does


@dataclass(frozen=True, slots=True)
class Message:
    """One claimed outbox row, with what its channels need."""

    outbox_id: int
    draft_id: int
    clinic_id: str
    clinic_name: str
    animal_id: str | None
    animal_name: str | None
    owner_id: str | None
    recipient: str | None
    webhook_url: str | None
    language: str
    subject: str
    body: str
    channels: tuple[Channel, ...]
    done: frozenset[Channel]  # channels that succeeded on an earlier attempt
    attempt: int  # this attempt's number (1 = first); the fencing token of the claim
    approved_by: str | None
    approved_at: datetime | None
    reclaimed: bool  # the previous attempt's lease ended without a result: it may have been sent

    @property
    def key(self) -> str:
        """The idempotency key of this message: the same on every attempt, on every channel."""
        return f"vigie-outbox-{self.outbox_id}"

    @property
    def pending(self) -> tuple[Channel, ...]:
        """The channels still to send."""
        return tuple(c for c in self.channels if c not in self.done)


class SendError(Exception):
    """A channel could not deliver; ``permanent`` errors are not retried (a 4xx answer, a refused recipient)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): capped exponential with "equal jitter".

    The ceiling doubles per attempt (base, 2·base, 4·base, … up to ``cap``) and the delay is drawn uniformly in the
    upper half of it, so that workers retrying together spread out while, until the cap, each delay is at least the
    previous one.
    """
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    draw = (rng or random).uniform(0.0, ceiling / 2.0)
    return ceiling / 2.0 + draw


_SUBJECT_LINE = re.compile(r"^\s*(?:Objet|Subject)\s*:\s*(\S.*)$", re.IGNORECASE)


def subject_for(language: str, clinic_name: str, animal_name: str | None, body: str = "") -> str:
    """The message's subject in the owner's language.

    The drafts start with their own subject line (« Objet : Rex — À traiter aujourd'hui », "Subject: …"), as the
    vet approved it: it becomes the email's subject after the clinic's name. Otherwise a generic subject.
    """
    sep = " : " if language == "fr" else ": "
    first = next((line for line in body.splitlines() if line.strip()), "")
    match = _SUBJECT_LINE.match(first)
    if match:
        return f"{clinic_name}{sep}{match[1].strip()}"
    if language == "fr":
        about = f" au sujet de {animal_name}" if animal_name else ""
        return f"{clinic_name} : un message de votre vétérinaire{about}"
    about = f" about {animal_name}" if animal_name else ""
    return f"{clinic_name}: a message from your vet{about}"
