"""Recommendation drafts for an owner or a farmer, composed from one or more alerts of one animal (pure).

Structure (domain.md §5.2): greeting; what the data show (numbers in the owner's unit, data quality); what it may
mean (hedged); what you can do now (only the clinic's pre-approved standing instructions); what the vet will
decide; warning signs (call the clinic); follow-up; the remote-data disclaimer. Rules of practice (§5.1): a dose
change is never proposed (the vet decides, after confirmation, never from a single reading); a CGM low always
says "confirm with a glucometer". Nothing here reaches an owner: a vet approves, edits or rejects first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules._model import SEVERITY_RANK
from rules._text import glucose, num, when

CONFIRM = {
    "fr": "Une valeur basse du capteur doit être confirmée au glucomètre (à confirmer au glucomètre) avant toute décision.",
    "en": "A low sensor reading must be confirmed with a glucometer (confirm with a glucometer) before any decision.",
}
NO_DOSE = {
    "fr": "Ne modifiez pas la dose d'insuline vous-même : une dose ne se change jamais sur une seule mesure, c'est le vétérinaire qui décide.",
    "en": "Do not change the insulin dose yourself: a dose is never changed on a single reading; the vet decides.",
}
_PETS = {"hypoglycemia", "hyperglycemia", "glycemic_control", "insulin_duration"}


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What a draft needs of an alert."""

    category: str
    severity: str
    rule_id: str
    window_start: datetime
    window_end: datetime
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who the draft is for and how they read numbers."""

    animal_name: str
    species: str
    owner_name: str
    clinic_name: str
    language: str = "fr"
    glucose_unit: str = "mg/dL"
    audience: str = "owner"


_URGENCY = {
    "fr": {"urgent": "À traiter aujourd'hui", "review": "À revoir", "info": "Pour information"},
    "en": {"urgent": "Same day", "review": "Routine review", "info": "For information"},
}

_INTERPRET = {
    "hypoglycemia": (
        "Ces valeurs peuvent indiquer une hypoglycémie (glycémie trop basse), mais les capteurs sont moins fiables dans les valeurs basses : il peut aussi s'agir d'une fausse alerte du capteur.",
        "These values may indicate hypoglycaemia (low blood sugar), but sensors are less reliable at low values: it may also be a false low from the sensor.",
    ),
    "hyperglycemia": (
        "Ces valeurs sont compatibles avec un diabète moins bien équilibré ces derniers jours (par exemple stress, autre maladie, ou insuline moins efficace) ; d'autres explications sont possibles.",
        "These values are consistent with less well controlled diabetes over the last days (for example stress, another illness, or less effective insulin); other explanations are possible.",
    ),
    "glycemic_control": (
        "La courbe de glycémie après les injections semble s'écarter de la cible ; cela peut mériter un ajustement du traitement, que seul le vétérinaire peut décider après vérification.",
        "The glucose curve after injections seems to move away from the target; this may call for a treatment adjustment, which only the vet can decide after checking.",
    ),
    "insulin_duration": (
        "L'effet de l'insuline semble plus court que prévu ; cela peut dépendre du produit, de l'heure des repas ou d'autres facteurs.",
        "The insulin effect seems shorter than expected; this can depend on the product, meal times or other factors.",
    ),
    "feed_intake_drop": (
        "Une baisse de consommation peut être un premier signe de coliques ou d'une autre maladie, mais peut aussi venir d'un changement de foin ou d'un problème de mangeoire.",
        "A drop in intake can be an early sign of colic or another illness, but can also come from a change of hay or a feeder problem.",
    ),
    "water_intake_drop": (
        "Une baisse de l'abreuvement peut augmenter le risque de coliques d'impaction ; elle vient parfois simplement de l'abreuvoir.",
        "Drinking less can raise the risk of impaction colic; sometimes it simply comes from the drinker.",
    ),
    "mastitis": (
        "Une conductivité plus élevée sur un seul quartier est compatible avec une mammite débutante ; un contrôle du lait permettra de le vérifier.",
        "Higher conductivity in one quarter is consistent with early mastitis; checking the milk will tell.",
    ),
    "milk_yield_drop": (
        "Une baisse de production peut accompagner une maladie (mammite, cétose, boiterie) ou un problème d'alimentation.",
        "A drop in yield can come with an illness (mastitis, ketosis, lameness) or a feeding problem.",
    ),
    "ketosis": (
        "Un rapport TB/TP élevé en début de lactation peut indiquer une cétose ; c'est un dépistage, à confirmer par un test BHB.",
        "A high fat:protein ratio in early lactation may indicate ketosis; it is a screen, to confirm with a BHB test.",
    ),
    "lameness": (
        "Une vache qui bouge moins et vient moins souvent au robot peut boiter ; d'autres causes sont possibles (maladie, chaleur, logement).",
        "A cow that moves less and visits the robot less often may be lame; there are other possible causes (illness, heat stress, housing).",
    ),
    "estrus": ("L'activité est compatible avec des chaleurs.", "The activity is consistent with heat."),
    "data_gap": (
        "Les données n'arrivent plus : le capteur ou la connexion est peut-être en cause.",
        "Data stopped arriving: the sensor or the connection may be the cause.",
    ),
    "device_fault": (
        "Les mesures semblent perturbées par l'appareil plutôt que par l'animal.",
        "The readings seem disturbed by the device rather than by the animal.",
    ),
}

_VET = {
    "fr": {
        "pet": "Le vétérinaire examinera ces données et décidera s'il faut adapter le traitement (dose, produit ou horaires) ; il vous le dira précisément.",
        "farm": "Le vétérinaire examinera ces données et décidera d'un éventuel traitement, de ses délais d'attente et d'une visite.",
    },
    "en": {
        "pet": "The vet will review these data and decide whether the treatment needs adjusting (dose, product or times); you will be told exactly.",
        "farm": "The vet will review these data and decide on any treatment, its withdrawal times and a visit.",
    },
}

_RED_FLAGS = {
    "fr": {
        "pet": "faiblesse, tremblements, démarche chancelante, convulsions, perte de connaissance, vomissements, refus de manger, forte soif soudaine.",
        "equine": "grattage du sol, roulades, sueurs, absence de crottins, regard vers les flancs, refus total de manger.",
        "cow": "vache qui ne mange plus, fièvre, lait anormal (grumeaux, sang), vache couchée qui ne se relève pas.",
    },
    "en": {
        "pet": "weakness, trembling, staggering, seizures, collapse, vomiting, refusing food, sudden strong thirst.",
        "equine": "pawing, rolling, sweating, no droppings, looking at the flanks, refusing all food.",
        "cow": "off feed, fever, abnormal milk (clots, blood), a cow down that does not get up.",
    },
}

_FOLLOW = {
    "fr": "Nous continuons à suivre les données et reviendrons vers vous après l'avis du vétérinaire.",
    "en": "We keep watching the data and will come back to you after the vet's review.",
}
_DISCLAIMER = {
    "fr": "Message préparé à partir de données recueillies à distance ; il ne remplace pas un examen de votre animal.",
    "en": "Message prepared from remotely collected data; it does not replace an examination of your animal.",
}


def _group(species: str) -> str:
    return "pet" if species in ("dog", "cat") else "cow" if species == "cow" else "equine"


def finding(alert: AlertFacts, unit: str, lang: str) -> str:
    """One sentence of findings with numbers (glucose in the owner's unit)."""
    e = alert.evidence
    fr = lang == "fr"
    if alert.category == "hypoglycemia" and "extreme" in e:
        low, thr = glucose(float(e["extreme"]), unit, lang), glucose(float(e["threshold"]), unit, lang)
        held = num(float(e.get("held_min", 0)), lang)
        return (
            f"Le capteur a mesuré une glycémie descendue jusqu'à {low} (seuil d'alerte {thr}), sous le seuil pendant {held} min depuis {when(alert.window_start)}."
            if fr
            else f"The sensor measured glucose down to {low} (alert threshold {thr}), below it for {held} min since {when(alert.window_start)}."
        )
    if alert.category == "hyperglycemia" and "mean" in e:
        m, thr = glucose(float(e["mean"]), unit, lang), glucose(float(e["threshold"]), unit, lang)
        return (
            f"La glycémie moyenne des {num(float(e['days']), lang)} derniers jours est de {m} (cible : moins de {thr})."
            if fr
            else f"The mean glucose of the last {num(float(e['days']), lang)} days is {m} (target: below {thr})."
        )
    if alert.category == "hyperglycemia" and "extreme" in e:
        high = glucose(float(e["extreme"]), unit, lang)
        thr = glucose(float(e["threshold"]), unit, lang)
        return (
            f"La glycémie est restée au-dessus de {thr} pendant plus de {num(float(e.get('held_min', 0)) / 60, lang)} h (maximum {high})."
            if fr
            else f"Glucose stayed above {thr} for more than {num(float(e.get('held_min', 0)) / 60, lang)} h (highest {high})."
        )
    if alert.category == "glycemic_control" and "cycles" in e:
        n = len(e["cycles"])
        lowest = e.get("lowest_nadir")
        part = (
            ""
            if lowest is None
            else (
                f" ; valeur la plus basse {glucose(float(lowest), unit, lang)}"
                if fr
                else f"; lowest value {glucose(float(lowest), unit, lang)}"
            )
        )
        return (
            f"Sur {n} courbes après injection, la glycémie s'est écartée de la cible{part}."
            if fr
            else f"On {n} curves after injection, glucose moved away from the target{part}."
        )
    if alert.category in ("feed_intake_drop", "water_intake_drop") and "pct_of_baseline" in e:
        what = (
            ("foin" if alert.category == "feed_intake_drop" else "eau")
            if fr
            else ("hay" if alert.category == "feed_intake_drop" else "water")
        )
        return (
            f"Sur 24 h, la consommation de {what} est à {num(float(e['pct_of_baseline']), lang)} % de ses habitudes des 7 derniers jours."
            if fr
            else f"Over 24 h, {what} intake is at {num(float(e['pct_of_baseline']), lang)} % of the last 7 days' habit."
        )
    if alert.category == "feed_intake_drop" and "silent_h" in e:
        return (
            f"Aucune prise de foin enregistrée depuis {num(float(e['silent_h']), lang, 1)} h."
            if fr
            else f"No hay intake recorded for {num(float(e['silent_h']), lang, 1)} h."
        )
    if alert.category == "mastitis" and "interquarter_ratio" in e:
        quarter = _QUARTER.get(str(e.get("quarter", "")), ("", ""))[0 if fr else 1]
        return (
            f"La conductivité du lait d'un quartier ({quarter}) est {num(float(e['interquarter_ratio']), lang, 2)} fois celle des autres quartiers."
            if fr
            else f"Milk conductivity of one quarter ({quarter}) is {num(float(e['interquarter_ratio']), lang, 2)} times that of the other quarters."
        )
    if alert.category == "milk_yield_drop" and "yield_24h" in e:
        return (
            f"Production sur 24 h : {num(float(e['yield_24h']), lang, 1)} kg pour {num(float(e['expected']), lang, 1)} kg attendus."
            if fr
            else f"24-h yield: {num(float(e['yield_24h']), lang, 1)} kg against {num(float(e['expected']), lang, 1)} kg expected."
        )
    if alert.category == "ketosis" and "fp_mean_5d" in e:
        return (
            f"Rapport TB/TP moyen sur 5 jours : {num(float(e['fp_mean_5d']), lang, 2)} (repère : 1,4)."
            if fr
            else f"5-day mean fat:protein ratio: {num(float(e['fp_mean_5d']), lang, 2)} (reference: 1.4)."
        )
    more = _more_findings(alert, lang)
    if more is not None:
        return more
    plain_fr, plain_en = _PLAIN[alert.category]
    return (
        f"{plain_fr} (entre le {when(alert.window_start)} et le {when(alert.window_end)})."
        if fr
        else f"{plain_en} (between {when(alert.window_start)} and {when(alert.window_end)})."
    )


# what each category means, in words an owner or a farmer reads (never a rule id)
_PLAIN = {
    "hypoglycemia": ("La glycémie mesurée par le capteur est descendue trop bas", "The sensor glucose went too low"),
    "hyperglycemia": ("La glycémie est restée trop haute", "Glucose stayed too high"),
    "glycemic_control": (
        "La courbe de glycémie après les injections s'écarte de la cible",
        "The glucose curve after injections moves away from the target",
    ),
    "insulin_duration": ("L'effet de l'insuline semble trop court", "The insulin effect seems too short"),
    "feed_intake_drop": ("La consommation de foin a baissé", "Hay intake went down"),
    "water_intake_drop": ("La consommation d'eau a baissé", "Water intake went down"),
    "milk_yield_drop": ("La production de lait a baissé", "Milk yield went down"),
    "mastitis": ("Le lait d'un quartier a changé", "The milk of one quarter changed"),
    "ketosis": ("La composition du lait évoque une cétose", "The milk composition suggests ketosis"),
    "lameness": (
        "La vache bouge moins et vient moins bien au robot",
        "The cow moves less and comes to the robot less well",
    ),
    "estrus": ("L'activité de la vache a fortement augmenté", "The cow's activity rose sharply"),
    "data_gap": ("Les données de l'appareil n'arrivent plus", "Data from the device stopped arriving"),
    "device_fault": ("Les mesures de l'appareil semblent faussées", "The device's readings seem wrong"),
}
_QUARTER = {
    "lf": ("avant gauche", "left front"),
    "rf": ("avant droit", "right front"),
    "lr": ("arrière gauche", "left rear"),
    "rr": ("arrière droit", "right rear"),
}
_LAME_SIGNS = {
    "visits_pct": ("visites au robot", "robot visits"),
    "yield_pct": ("lait", "milk"),
    "duration_pct": ("durée de traite", "milking time"),
}


def _more_findings(alert: AlertFacts, lang: str) -> str | None:
    """Findings of the categories that :func:`finding` does not cover with numbers, or None."""
    e = alert.evidence
    fr = lang == "fr"
    if alert.category == "insulin_duration" and "cycles" in e:
        n = len(e["cycles"])
        return (
            f"Sur {n} courbes après injection, la glycémie est remontée plus tôt que prévu : l'effet de l'insuline semble court."
            if fr
            else f"On {n} curves after injection, glucose rose again sooner than expected: the insulin effect seems short."
        )
    if alert.category == "lameness" and isinstance(e.get("pct_of_baseline"), dict):
        pct = e["pct_of_baseline"]
        parts = [
            f"{words[0 if fr else 1]} {num(float(pct[key]), lang)} %"
            for key, words in _LAME_SIGNS.items()
            if pct.get(key) is not None
        ]
        act = pct.get("activity_pct")
        if act is None:
            return None
        return (
            f"Sur 3 jours, son activité est à {num(float(act), lang)} % de ses habitudes ({', '.join(parts)})."
            if fr
            else f"Over 3 days, her activity is at {num(float(act), lang)} % of usual ({', '.join(parts)})."
        )
    if alert.category == "estrus" and "peak_ratio" in e:
        ratio = num(float(e["peak_ratio"]), lang, 1)
        return (
            f"Son activité a atteint {ratio} fois son niveau habituel depuis le {when(alert.window_start)}."
            if fr
            else f"Her activity reached {ratio} times her usual level since {when(alert.window_start)}."
        )
    if alert.category == "data_gap" and "silent_h" in e:
        hours = num(float(e["silent_h"]), lang, 1)
        return (
            f"Plus aucune mesure reçue de l'appareil depuis {hours} h (depuis le {when(alert.window_start)})."
            if fr
            else f"No reading received from the device for {hours} h (since {when(alert.window_start)})."
        )
    if alert.category == "milk_yield_drop" and "cusum_lower" in e:
        return (
            "La production de lait baisse de façon persistante par rapport à ce qui est attendu pour elle."
            if fr
            else "Milk yield keeps falling below what is expected for her."
        )
    return None


def compose(
    alerts: Sequence[AlertFacts], to: Recipient, instructions: Mapping[str, Mapping[str, Sequence[str]]]
) -> str:
    """The draft's text in ``to.language`` for one animal's related alerts."""
    lang = to.language if to.language in ("fr", "en") else "fr"
    fr = lang == "fr"
    group = _group(to.species)
    severity = max((a.severity for a in alerts), key=SEVERITY_RANK.__getitem__, default="info")
    cats = list(dict.fromkeys(a.category for a in alerts))
    lines = [
        (
            f"Objet : {to.animal_name} — {_URGENCY[lang][severity]}"
            if fr
            else f"Subject: {to.animal_name} — {_URGENCY[lang][severity]}"
        ),
        "",
        f"Bonjour {to.owner_name}," if fr else f"Dear {to.owner_name},",
        "",
        (
            f"Les données de suivi à distance de {to.animal_name} ont attiré notre attention."
            if fr
            else f"The remote monitoring data of {to.animal_name} caught our attention."
        ),
        "",
        "Ce que montrent les données :" if fr else "What the data show:",
    ]
    lines += [f"- {finding(a, to.glucose_unit, lang)}" for a in alerts]
    low_cgm = any(a.category == "hypoglycemia" or a.evidence.get("flag") == "nadir_below_target" for a in alerts)
    if low_cgm:
        lines.append(f"- {CONFIRM[lang]}")
    lines += ["", "Ce que cela peut signifier :" if fr else "What it may mean:"]
    lines += [f"- {_INTERPRET[c][0 if fr else 1]}" for c in cats if c in _INTERPRET]
    lines += ["", "Ce que vous pouvez faire dès maintenant :" if fr else "What you can do now:"]
    todo: list[str] = []
    for c in cats:
        for item in instructions.get(c, {}).get(lang, []):
            if item not in todo:
                todo.append(item)
    if low_cgm and not any("gluco" in t.lower() for t in todo):
        todo.insert(0, CONFIRM[lang])
    lines += [f"- {t}" for t in todo] or [
        "- " + ("Aucune action particulière pour l'instant." if fr else "Nothing special for now.")
    ]
    lines += ["", "Ce que décidera le vétérinaire :" if fr else "What the vet will decide:"]
    lines.append(f"- {_VET[lang]['pet' if group == 'pet' else 'farm']}")
    if any(c in _PETS for c in cats):
        lines.append(f"- {NO_DOSE[lang]}")
    lines += [
        "",
        "Appelez la clinique sans attendre si vous observez : " + _RED_FLAGS[lang][group]
        if fr
        else "Call the clinic at once if you notice: " + _RED_FLAGS[lang][group],
        "",
        f"Suivi : {_FOLLOW[lang]}" if fr else f"Follow-up: {_FOLLOW[lang]}",
        "",
        _DISCLAIMER[lang],
        f"{to.clinic_name}",
    ]
    return "\n".join(lines)
