"""The web page's strings in French and English, and numbers, dates and ages written the way each language reads them.

Every string a page shows comes from :data:`CATALOG` (key -> French, English). The tone follows what vets and owners
expect of their clinic: plain, polite, precise ("vous", no jargon for owners, no exclamation marks).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

LANGUAGES: Final = ("fr", "en")
DEFAULT_LANGUAGE: Final = "fr"
# Clinics have no time zone in the registry yet: pages show times in the zone of the French clinics Vigie serves.
DISPLAY_TZ: Final = ZoneInfo("Europe/Paris")

CATALOG: Final[dict[str, tuple[str, str]]] = {
    # frame
    "app.name": ("Vigie", "Vigie"),
    "app.tagline": ("Suivi à distance des animaux", "Remote animal monitoring"),
    "app.tagline_vet": ("Suivi à distance de vos patients", "Remote monitoring of your patients"),
    "app.tagline_owner": (
        "Les conseils de votre clinique pour vos animaux",
        "Advice from your clinic for your animals",
    ),
    "nav.skip": ("Aller au contenu", "Skip to content"),
    "nav.triage": ("Patients à voir", "Triage"),
    "nav.drafts": ("Messages à valider", "Drafts to review"),
    "nav.messages": ("Mes messages", "My messages"),
    "nav.main": ("Navigation principale", "Main navigation"),
    "nav.logout": ("Se déconnecter", "Log out"),
    "nav.signed_in": ("Connecté : {name}", "Signed in: {name}"),
    "lang.label": ("Langue", "Language"),
    "lang.apply": ("Changer", "Change"),
    "lang.fr": ("Français", "Français"),
    "lang.en": ("English", "English"),
    "footer.times": ("Heures affichées : {tz}.", "Times shown in {tz}."),
    # login
    "login.title": ("Connexion", "Log in"),
    "login.intro": (
        "Connectez-vous pour consulter vos patients et valider les messages destinés aux propriétaires.",
        "Log in to see your patients and review the messages to their owners.",
    ),
    "login.username": ("Identifiant", "User name"),
    "login.password": ("Mot de passe", "Password"),
    "login.submit": ("Se connecter", "Log in"),
    "login.failed": ("Identifiant ou mot de passe incorrect.", "Wrong user name or password."),
    "login.limited": (
        "Trop de tentatives de connexion. Par sécurité, réessayez dans {minutes} min.",
        "Too many login attempts. For safety, try again in {minutes} min.",
    ),
    "login.logged_out": ("Vous êtes déconnecté.", "You are logged out."),
    "login.expired": ("Votre session a expiré : reconnectez-vous.", "Your session has expired: please log in again."),
    # triage
    "triage.title": ("Patients à voir", "Patients to review"),
    "triage.intro": (
        "Classés par gravité de l'alerte, puis données manquantes d'abord, puis dernière mesure la plus récente.",
        "Ranked by alert severity, then missing data first, then the most recent reading.",
    ),
    "triage.empty": ("Aucun patient suivi pour l'instant.", "No monitored patient yet."),
    "triage.col.patient": ("Patient", "Patient"),
    "triage.col.owner": ("Propriétaire", "Owner"),
    "triage.col.severity": ("Gravité", "Severity"),
    "triage.col.alerts": ("Alertes en cours", "Open alerts"),
    "triage.col.last": ("Dernière mesure", "Last reading"),
    "triage.col.drafts": ("Messages", "Drafts"),
    "triage.stale": ("données anciennes", "stale data"),
    "triage.no_data": ("aucune mesure", "no reading"),
    "triage.none": ("aucune", "none"),
    "triage.pending": ("{n} à valider", "{n} to review"),
    "triage.clinic": ("Clinique", "Clinic"),
    # severities, statuses, species
    "severity.urgent": ("Urgent", "Urgent"),
    "severity.review": ("À revoir", "Review"),
    "severity.info": ("Information", "Info"),
    "severity.none": ("Aucune alerte", "No alert"),
    "status.open": ("ouverte", "open"),
    "status.acknowledged": ("prise en compte", "acknowledged"),
    "status.resolved": ("résolue", "resolved"),
    "status.pending": ("à valider", "to review"),
    "status.approved": ("validé", "approved"),
    "status.edited": ("modifié et validé", "edited and approved"),
    "status.rejected": ("refusé", "rejected"),
    "species.dog": ("chien", "dog"),
    "species.cat": ("chat", "cat"),
    "species.horse": ("cheval", "horse"),
    "species.pony": ("poney", "pony"),
    "species.donkey": ("âne", "donkey"),
    "species.cow": ("vache", "cow"),
    # alert categories
    "category.hypoglycemia": ("Hypoglycémie", "Hypoglycaemia"),
    "category.hyperglycemia": ("Hyperglycémie", "Hyperglycaemia"),
    "category.glycemic_control": ("Contrôle glycémique", "Glycaemic control"),
    "category.insulin_duration": ("Durée d'action de l'insuline", "Insulin duration"),
    "category.feed_intake_drop": ("Baisse de consommation", "Feed intake drop"),
    "category.water_intake_drop": ("Baisse d'abreuvement", "Water intake drop"),
    "category.milk_yield_drop": ("Baisse de production laitière", "Milk yield drop"),
    "category.mastitis": ("Mammite", "Mastitis"),
    "category.ketosis": ("Cétose", "Ketosis"),
    "category.lameness": ("Boiterie", "Lameness"),
    "category.estrus": ("Chaleurs", "Oestrus"),
    "category.data_gap": ("Données manquantes", "Data gap"),
    "category.device_fault": ("Défaut du capteur", "Device fault"),
    # patient
    "patient.title": ("{name}", "{name}"),
    "patient.summary": ("{species}, propriétaire : {owner}", "{species}, owner: {owner}"),
    "patient.range": ("Période", "Period"),
    "patient.unit": ("Unité de glycémie", "Glucose unit"),
    "patient.show": ("Afficher", "Show"),
    "patient.range.6h": ("6 heures", "6 hours"),
    "patient.range.24h": ("24 heures", "24 hours"),
    "patient.range.3d": ("3 jours", "3 days"),
    "patient.range.14d": ("14 jours", "14 days"),
    "patient.chart": ("Courbe", "Chart"),
    "patient.chart.label": (
        "Graphique des mesures de {name} sur {range}",
        "Chart of the readings of {name} over {range}",
    ),
    "patient.chart.nodata": ("Aucune mesure sur cette période.", "No reading in this period."),
    "patient.chart.needs_js": (
        "Le graphique nécessite JavaScript ; les chiffres clés sont ci-dessous.",
        "The chart needs JavaScript; the key figures are below.",
    ),
    "patient.legend": (
        "Zones colorées : seuils des règles en vigueur pour ce patient ; bandes orangées : périodes d'alerte.",
        "Shaded areas: thresholds of the rules in force for this patient; orange bands: alert windows.",
    ),
    "patient.last": ("Dernière mesure : {when}", "Last reading: {when}"),
    "chart.glucose": ("Glycémie ({unit})", "Glucose ({unit})"),
    "chart.insulin": ("Insuline (U)", "Insulin (U)"),
    "chart.meal": ("Repas (g)", "Meal (g)"),
    "chart.forage": ("Fourrage par visite (kg)", "Forage per visit (kg)"),
    "chart.water": ("Eau par visite (L)", "Water per visit (L)"),
    "chart.milk": ("Lait par traite (kg)", "Milk per milking (kg)"),
    "chart.hypo": ("Hypoglycémie < {value}", "Hypoglycaemia < {value}"),
    "chart.hypo_severe": ("Hypoglycémie sévère < {value}", "Severe hypoglycaemia < {value}"),
    "chart.hyper": ("Hyperglycémie > {value}", "Hyperglycaemia > {value}"),
    "chart.target": ("Cible {low}\u2013{high}", "Target {low}\u2013{high}"),
    "chart.alert": ("Alerte", "Alert"),
    "chart.time": ("Heure", "Time"),
    # glucose report
    "report.title": ("Courbe de glycémie : synthèse", "Glucose curve report"),
    "report.window": ("Sur la période affichée ({range}).", "Over the period shown ({range})."),
    "report.nodata": ("Pas de glycémie sur cette période.", "No glucose reading in this period."),
    "report.mean": ("Moyenne", "Mean"),
    "report.sd": ("Écart-type", "Standard deviation"),
    "report.cv": ("Coefficient de variation", "Coefficient of variation"),
    "report.tir": ("Temps dans la cible ({low}\u2013{high})", "Time in range ({low}\u2013{high})"),
    "report.below": ("Temps sous la cible", "Time below range"),
    "report.above": ("Temps au-dessus de la cible", "Time above range"),
    "report.coverage": ("Couverture des données", "Data coverage"),
    "report.n": ("Mesures", "Readings"),
    "report.cycles": ("Cycles d'insuline", "Insulin cycles"),
    "report.no_cycles": (
        "Aucune injection d'insuline enregistrée sur la période : pas d'analyse de courbe.",
        "No insulin injection recorded in this period: no curve analysis.",
    ),
    "report.col.injection": ("Injection", "Injection"),
    "report.col.dose": ("Dose (U)", "Dose (U)"),
    "report.col.pre": ("Avant insuline", "Pre-insulin"),
    "report.col.nadir": ("Nadir", "Nadir"),
    "report.col.to_nadir": ("Délai du nadir (h)", "Time to nadir (h)"),
    "report.col.duration": ("Durée d'effet (h)", "Duration of effect (h)"),
    "report.col.flags": ("Remarques", "Notes"),
    "report.censored": ("au moins {value}", "at least {value}"),
    "flag.nadir_below_target": ("nadir trop bas", "nadir too low"),
    "flag.nadir_above_target": ("nadir trop haut", "nadir too high"),
    "flag.short_duration": ("durée d'action courte", "short duration"),
    "flag.somogyi_rebound": ("rebond (Somogyi ?)", "rebound (Somogyi?)"),
    "flag.compression_artefact": ("artefact de compression", "compression artefact"),
    "flag.no_effect": ("pas d'effet visible", "no visible effect"),
    # horses and cows
    "intake.title": ("Consommation quotidienne", "Daily intake"),
    "intake.intro": (
        "14 derniers jours ; % de référence = jour ÷ médiane des 7 jours complets précédents.",
        "Last 14 days; % of baseline = day ÷ median of the previous 7 complete days.",
    ),
    "intake.col.day": ("Jour", "Day"),
    "intake.col.forage": ("Fourrage (kg)", "Forage (kg)"),
    "intake.col.forage_pct": ("% de référence", "% of baseline"),
    "intake.col.water": ("Eau (L)", "Water (L)"),
    "intake.col.water_pct": ("% de référence (eau)", "% of baseline (water)"),
    "intake.partial": ("journée incomplète", "partial day"),
    "intake.nodata": ("Pas de données de consommation.", "No intake data."),
    "milk.title": ("Production laitière", "Milk yield"),
    "milk.intro": (
        "14 derniers jours ; production ramenée à 24 h et comparée à la référence de la vache.",
        "Last 14 days; yield as a 24-h equivalent, compared with the cow's own baseline.",
    ),
    "milk.col.day": ("Jour", "Day"),
    "milk.col.milkings": ("Traites", "Milkings"),
    "milk.col.yield": ("Lait (kg/24 h)", "Milk (kg/24 h)"),
    "milk.col.baseline": ("Référence (kg/24 h)", "Baseline (kg/24 h)"),
    "milk.col.pct": ("% de référence", "% of baseline"),
    "milk.nodata": ("Pas de données de traite.", "No milking data."),
    "milk.calving": (
        "Vêlage le {date} : jour {dim} de lactation.",
        "Calved on {date}: day {dim} in milk.",
    ),
    "milk.lactation": (
        "Courbe de lactation (Wood) : pic estimé au jour {day} à {peak} kg/jour.",
        "Lactation curve (Wood): estimated peak on day {day} at {peak} kg/day.",
    ),
    "milk.lactation_na": (
        "Courbe de lactation : pas assez de jours pour l'ajuster.",
        "Lactation curve: not enough days to fit it.",
    ),
    "milk.lactation_nocalving": (
        "Courbe de lactation : date de vêlage inconnue (à saisir dans le registre).",
        "Lactation curve: calving date unknown (enter it in the registry).",
    ),
    # alerts
    "alerts.title": ("Alertes", "Alerts"),
    "alerts.empty": ("Aucune alerte sur la période.", "No alert in this period."),
    "alerts.col.what": ("Alerte", "Alert"),
    "alerts.col.severity": ("Gravité", "Severity"),
    "alerts.col.window": ("Période", "Window"),
    "alerts.col.status": ("État", "Status"),
    "alerts.col.action": ("Action", "Action"),
    "alerts.since": ("depuis {when}", "since {when}"),
    "alerts.from_to": ("{start} → {end}", "{start} → {end}"),
    "alerts.acknowledge": ("Prendre en compte", "Acknowledge"),
    "alerts.resolve": ("Résoudre", "Resolve"),
    "alerts.note": ("Note (facultative)", "Note (optional)"),
    "alerts.by": ("par {name}", "by {name}"),
    "alerts.acknowledged": ("Alerte prise en compte.", "Alert acknowledged."),
    "alerts.resolved": ("Alerte résolue.", "Alert resolved."),
    # drafts
    "drafts.title": ("Messages à valider", "Drafts to review"),
    "drafts.intro": (
        "Aucun message ne part sans votre validation. Relisez, corrigez si besoin, puis validez ou refusez.",
        "No message leaves without your approval. Read, correct if needed, then approve or reject.",
    ),
    "drafts.empty": ("Aucun message en attente.", "No draft waiting."),
    "drafts.col.patient": ("Patient", "Patient"),
    "drafts.col.created": ("Rédigé le", "Drafted"),
    "drafts.col.audience": ("Destinataire", "To"),
    "drafts.col.excerpt": ("Début du message", "Beginning"),
    "drafts.open": ("Relire", "Review"),
    "drafts.col.alerts": ("Alertes", "Alerts"),
    "drafts.more": ("{shown} messages affichés sur {total}.", "Showing {shown} of {total} drafts."),
    "delivery.status": ("Envoi au propriétaire ({to}) : {status}", "Delivery to the owner ({to}): {status}"),
    "delivery.queued": ("en file d'envoi", "queued"),
    "delivery.sending": ("en cours d'envoi", "sending"),
    "delivery.sent": ("envoyé", "sent"),
    "delivery.failed": ("échec de l'envoi", "failed"),
    "drafts.for_patient": ("Messages à valider pour ce patient", "Drafts to review for this patient"),
    "audience.owner": ("propriétaire", "owner"),
    "audience.farmer": ("éleveur", "farmer"),
    "draft.title": ("Message n° {id} : {name}", "Draft {id}: {name}"),
    "draft.meta": (
        "Pour le {audience} de {name}, en {language}, rédigé le {when}.",
        "To the {audience} of {name}, in {language}, drafted {when}.",
    ),
    "draft.language.fr": ("français", "French"),
    "draft.language.en": ("anglais", "English"),
    "draft.text": ("Texte du message", "Message text"),
    "draft.help": (
        "Vous pouvez modifier le texte ; votre nom sera ajouté en signature.",
        "You may edit the text; your name is added as the signature.",
    ),
    "draft.approve": ("Valider tel quel", "Approve as drafted"),
    "draft.edit_approve": ("Valider avec mes modifications", "Approve with my edits"),
    "draft.reject": ("Refuser", "Reject"),
    "draft.reason": ("Motif du refus (obligatoire)", "Reason for rejecting (required)"),
    "draft.reason_missing": ("Indiquez le motif du refus.", "Please give a reason for rejecting."),
    "draft.empty_body": ("Le message ne peut pas être vide.", "The message cannot be empty."),
    "draft.approved": (
        "Message validé : il est en file d'envoi vers le propriétaire.",
        "Draft approved: it is queued for delivery to the owner.",
    ),
    "draft.rejected": ("Message refusé. Rien ne sera envoyé.", "Draft rejected. Nothing will be sent."),
    "draft.decided": ("Ce message est déjà {status}.", "This draft is already {status}."),
    "draft.decided_by": ("Décision : {status}, par {name}, le {when}.", "Decision: {status}, by {name}, on {when}."),
    "draft.final": ("Texte envoyé", "Text sent"),
    "draft.reason_given": ("Motif : {reason}", "Reason: {reason}"),
    "draft.alerts": ("Alertes à l'origine du message", "Alerts behind this draft"),
    "draft.see_patient": ("Voir le dossier de {name}", "Open the record of {name}"),
    # owner's messages
    "messages.title": ("Messages de votre vétérinaire", "Messages from your vet"),
    "messages.intro": (
        "Les conseils validés par votre clinique pour vos animaux.",
        "Advice your clinic has approved for your animals.",
    ),
    "messages.empty": ("Aucun message pour l'instant.", "No message yet."),
    "messages.about": ("Au sujet de {name}, le {when}", "About {name}, {when}"),
    # errors
    "error.title": ("Oups", "Sorry"),
    "error.403": ("Cette page est réservée à l'équipe de la clinique.", "This page is for the clinic's team only."),
    "error.404": ("Page introuvable.", "Page not found."),
    "error.409": ("Cette action n'est plus possible : {detail}", "This can no longer be done: {detail}"),
    "error.csrf": (
        "La page a expiré ou la demande ne vient pas de Vigie. Rechargez la page et réessayez.",
        "The page has expired or the request did not come from Vigie. Reload the page and try again.",
    ),
    "error.back": ("Retour à l'accueil", "Back to the start page"),
    "error.role_vet": ("Seul un vétérinaire peut faire cela.", "Only a vet may do this."),
    # ages
    "age.now": ("à l'instant", "just now"),
    "age.minutes": ("il y a {n} min", "{n} min ago"),
    "age.hours": ("il y a {n} h", "{n} h ago"),
    "age.days": ("il y a {n} j", "{n} d ago"),
}


def language_of(value: str | None) -> str:
    """``value`` if it is a supported language, else the default."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def translate(lang: str, key: str, **params: object) -> str:
    """The string ``key`` in ``lang`` with ``params`` filled in (KeyError for a key missing from the catalog)."""
    fr, en = CATALOG[key]
    text = fr if lang == "fr" else en
    return text.format(**params) if params else text


def fmt_number(value: float | None, lang: str, digits: int = 1) -> str:
    """``12 345,6`` in French (narrow no-break space, comma), ``12,345.6`` in English; an en dash when missing."""
    if value is None or not math.isfinite(value):
        return "\u2013"
    text = f"{value:,.{digits}f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def glucose_digits(unit: str) -> int:
    """The decimals glucose is read at in ``unit``."""
    return {"mg/dL": 0, "mmol/L": 1, "g/L": 2}.get(unit, 1)


def local(dt: datetime) -> datetime:
    """``dt`` (tz-aware) in the display time zone."""
    return dt.astimezone(DISPLAY_TZ)


def fmt_datetime(dt: datetime | None, lang: str) -> str:
    """``29/11/2026 16:43`` in French, ``29 Nov 2026, 16:43`` in English (display time zone)."""
    if dt is None:
        return "\u2013"
    d = local(dt)
    if lang == "fr":
        return d.strftime("%d/%m/%Y %H:%M")
    return f"{d.day} {_EN_MONTHS[d.month - 1]} {d.year}, {d:%H:%M}"


def fmt_date(dt: datetime, lang: str) -> str:
    """``29/11`` in French, ``29 Nov`` in English (a day of a table)."""
    if lang == "fr":
        return f"{_FR_DAYS[dt.weekday()]} {dt:%d/%m}"
    return f"{_EN_DAYS[dt.weekday()]} {dt.day} {_EN_MONTHS[dt.month - 1]}"


def fmt_age(age: timedelta, lang: str) -> str:
    """How long ago: ``il y a 5 min`` / ``5 min ago``."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 1:
        return translate(lang, "age.now")
    if minutes < 120:
        return translate(lang, "age.minutes", n=minutes)
    if minutes < 48 * 60:
        return translate(lang, "age.hours", n=minutes // 60)
    return translate(lang, "age.days", n=minutes // (24 * 60))


_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FR_DAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
