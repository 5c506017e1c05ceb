"""Scenario files: a fleet (clinics, owners, animals, devices) and the anomalies to inject, in TOML.

A scenario is a name of ``simulators/scenarios/`` (``default``, ``week100``) or a path. See docs/simulators.md.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators._time import parse_duration
from simulators.errors import ScenarioError

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
SPECIES_OF_KIND = {"cgm": ("dog", "cat"), "feeder": ("horse", "pony", "donkey"), "milking": ("cow",)}
DEFAULT_WEIGHT = {
    "dog": (8.0, 35.0),
    "cat": (3.5, 6.5),
    "horse": (450.0, 600.0),
    "pony": (200.0, 350.0),
    "donkey": (150.0, 250.0),
    "cow": (600.0, 750.0),
}


@dataclass(frozen=True, slots=True)
class Clinic:
    """A clinic (tenant)."""

    id: str
    name: str
    language: str = "fr"


@dataclass(frozen=True, slots=True)
class Owner:
    """An owner of pets, or a farm."""

    id: str
    clinic: str
    name: str
    kind: str = "owner"


@dataclass(frozen=True, slots=True)
class Animal:
    """An animal; ``weight`` is a fixed weight or a (low, high) range drawn per animal from the seed."""

    id: str
    species: str
    clinic: str
    owner: str | None
    name: str
    weight: tuple[float, float]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Device:
    """A device bound to one animal (``animal``) or serving several (``animals``, all of ``clinic``)."""

    id: str
    kind: str
    clinic: str
    animal: str | None
    animals: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def bound(self) -> bool:
        """True when the device belongs to one animal (its readings omit the animal)."""
        return self.animal is not None


@dataclass(frozen=True, slots=True)
class AnomalySpec:
    """An anomaly to inject: a recipe on an animal (or a device for faults), between two moments."""

    recipe: str
    animal: str
    start: str
    duration: float | None
    end: str | None
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario file."""

    name: str
    description: str
    duration_s: float
    seed: int
    clinics: tuple[Clinic, ...]
    owners: tuple[Owner, ...]
    animals: tuple[Animal, ...]
    devices: tuple[Device, ...]
    anomalies: tuple[AnomalySpec, ...]
    environment: dict[str, Any]

    def animal(self, animal_id: str) -> Animal:
        """The animal called ``animal_id``."""
        for a in self.animals:
            if a.id == animal_id:
                return a
        raise ScenarioError(f"scenario {self.name}: unknown animal {animal_id!r}")


def resolve_path(name_or_path: str) -> Path:
    """The file of a scenario given by name (``default``) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    builtin = SCENARIO_DIR / f"{name_or_path}.toml"
    if ID_RE.match(name_or_path) and builtin.is_file():
        return builtin
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
    raise ScenarioError(f"no scenario {name_or_path!r}: give a file or one of {known}")


def load_scenario(name_or_path: str) -> Scenario:
    """Read and check a scenario."""
    path = resolve_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    return parse_scenario(raw, name=path.stem)


def _str(where: str, table: dict[str, Any], key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}: {key} must be a non-empty string")
    return value


def _check_id(where: str, value: str) -> str:
    if not ID_RE.match(value):
        raise ScenarioError(f"{where}: invalid id {value!r} (letters, digits and _ . : -, at most 64)")
    return value


def _weight(where: str, value: Any, species: str) -> tuple[float, float]:
    if value is None:
        return DEFAULT_WEIGHT[species]
    if isinstance(value, int | float) and not isinstance(value, bool):
        lo = hi = float(value)
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ScenarioError(f"{where}: weight must be a number or [low, high] in kg")
    if not 0 < lo <= hi < 2000:
        raise ScenarioError(f"{where}: weight {value} kg is not plausible")
    return lo, hi


def _duration(where: str, value: Any) -> float:
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if seconds <= 0:
        raise ScenarioError(f"{where}: duration must be positive")
    return seconds


def _tables(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScenarioError(f"[[{key}]] must be an array of tables")
    return value


_ANIMAL_KEYS = {"id", "species", "clinic", "owner", "name", "weight", "count"}
_DEVICE_KEYS = {"id", "kind", "animal", "animals", "clinic"}


def _animals(raw: dict[str, Any], clinics: set[str], owners: dict[str, str]) -> list[Animal]:
    animals: list[Animal] = []
    for i, spec in enumerate(_tables(raw, "animals")):
        where = f"animals[{i}]"
        base = _check_id(where, _str(where, spec, "id"))
        species = _str(where, spec, "species")
        if species not in DEFAULT_WEIGHT:
            raise ScenarioError(f"{where}: unknown species {species!r}: use one of {', '.join(DEFAULT_WEIGHT)}")
        clinic = _str(where, spec, "clinic")
        if clinic not in clinics:
            raise ScenarioError(f"{where}: unknown clinic {clinic!r}")
        owner = spec.get("owner")
        if owner is not None and owners.get(owner) != clinic:
            raise ScenarioError(f"{where}: owner {owner!r} is not an owner of clinic {clinic!r}")
        weight = _weight(where, spec.get("weight"), species)
        count = spec.get("count")
        params = {k: v for k, v in spec.items() if k not in _ANIMAL_KEYS}
        if count is None:
            ids = [base]
        elif isinstance(count, int) and 1 <= count <= 10_000:
            ids = [_check_id(where, f"{base}-{n:03d}") for n in range(1, count + 1)]
        else:
            raise ScenarioError(f"{where}: count must be an integer between 1 and 10000")
        for animal_id in ids:
            name = str(spec.get("name", animal_id)) if count is None else animal_id
            animals.append(Animal(animal_id, species, clinic, owner, name, weight, params))
    return animals


def _devices(raw: dict[str, Any], animals: dict[str, Animal]) -> list[Device]:
    devices: list[Device] = []
    served: dict[str, str] = {}
    for i, spec in enumerate(_tables(raw, "devices")):
        where = f"devices[{i}]"
        each = spec.get("each", False)
        if not isinstance(each, bool):
            raise ScenarioError(f"{where}: each must be true or false")
        kind = _str(where, spec, "kind")
        if kind not in SPECIES_OF_KIND:
            raise ScenarioError(f"{where}: unknown kind {kind!r}: use one of {', '.join(SPECIES_OF_KIND)}")
        params = {k: v for k, v in spec.items() if k not in _DEVICE_KEYS | {"each"}}
        specs: list[tuple[str, str | None, tuple[str, ...]]]
        if each:
            # one bound device per matching animal: id is a pattern with {animal}
            pattern = _str(where, spec, "animals")
            template = _str(where, spec, "id")
            if "{animal}" not in template:
                raise ScenarioError(f"{where}: with each = true, id must contain {{animal}}")
            targets = [a for a in animals.values() if fnmatch.fnmatchcase(a.id, pattern)]
            if not targets:
                raise ScenarioError(f"{where}: animals {pattern!r} match no animal")
            specs = [(template.replace("{animal}", a.id), a.id, ()) for a in targets]
        elif "animal" in spec:
            specs = [(_str(where, spec, "id"), _str(where, spec, "animal"), ())]
        else:
            patterns = spec.get("animals")
            if isinstance(patterns, str):
                patterns = [patterns]
            if not isinstance(patterns, list) or not patterns:
                raise ScenarioError(f"{where}: give animal = ID (bound device) or animals = [patterns]")
            matched = tuple(a.id for a in animals.values() if any(fnmatch.fnmatchcase(a.id, str(p)) for p in patterns))
            if not matched:
                raise ScenarioError(f"{where}: animals {patterns} match no animal")
            specs = [(_str(where, spec, "id"), None, matched)]
        for device_id, animal_id, many in specs:
            _check_id(where, device_id)
            members = (animal_id,) if animal_id is not None else many
            for member in members:
                animal = animals.get(member)
                if animal is None:
                    raise ScenarioError(f"{where}: unknown animal {member!r}")
                if animal.species not in SPECIES_OF_KIND[kind]:
                    raise ScenarioError(f"{where}: a {kind} device cannot serve a {animal.species} ({member})")
                if member in served and kind != "cgm":
                    raise ScenarioError(f"{where}: animal {member} is already served by {served[member]}")
                served[member] = device_id
            clinics = {animals[m].clinic for m in members}
            if len(clinics) != 1:
                raise ScenarioError(f"{where}: a device serves animals of one clinic only")
            devices.append(Device(device_id, kind, clinics.pop(), animal_id, members, params))
    ids = [d.id for d in devices]
    if len(set(ids)) != len(ids):
        raise ScenarioError("device ids must be unique")
    return devices


def _anomalies(raw: dict[str, Any], animals: dict[str, Animal]) -> list[AnomalySpec]:
    from simulators._anomalies import INTRINSIC, RECIPES  # noqa: PLC0415 - avoid an import cycle

    result: list[AnomalySpec] = []
    for i, spec in enumerate(_tables(raw, "anomalies")):
        where = f"anomalies[{i}]"
        recipe = _str(where, spec, "recipe")
        info = RECIPES.get(recipe)
        if info is None or recipe == "offline_backlog":
            raise ScenarioError(f"{where}: unknown recipe {recipe!r}: use one of {', '.join(sorted(RECIPES))}")
        pattern = _str(where, spec, "animal")
        targets = [a for a in animals.values() if fnmatch.fnmatchcase(a.id, pattern)]
        if not targets:
            raise ScenarioError(f"{where}: unknown animal {pattern!r}")
        for animal in targets:
            if animal.species not in info.species:
                raise ScenarioError(
                    f"{where}: recipe {recipe} applies to {', '.join(info.species)}, not {animal.species} ({animal.id})"
                )
        duration = _duration(where, spec["duration"]) if "duration" in spec else None
        end = spec.get("end")
        if duration is not None and end is not None:
            raise ScenarioError(f"{where}: give duration or end, not both")
        if duration is None and end is None and info.default_duration_s is None and recipe not in INTRINSIC:
            raise ScenarioError(f"{where}: recipe {recipe} needs a duration or an end")
        params = spec.get("parameters", {})
        if not isinstance(params, dict):
            raise ScenarioError(f"{where}: parameters must be a table")
        result.extend(
            AnomalySpec(recipe, a.id, str(spec.get("start", "start")), duration, end and str(end), dict(params))
            for a in targets
        )
    return result


def parse_scenario(raw: dict[str, Any], *, name: str) -> Scenario:
    """A checked scenario from parsed TOML."""
    clinics = []
    for i, spec in enumerate(_tables(raw, "clinics")):
        where = f"clinics[{i}]"
        cid = _check_id(where, _str(where, spec, "id"))
        language = _str(where, spec, "language", "fr")
        if language not in ("fr", "en"):
            raise ScenarioError(f"{where}: language must be fr or en")
        clinics.append(Clinic(cid, str(spec.get("name", cid)), language))
    clinic_ids = {c.id for c in clinics}
    owners = []
    for i, spec in enumerate(_tables(raw, "owners")):
        where = f"owners[{i}]"
        oid = _check_id(where, _str(where, spec, "id"))
        clinic = _str(where, spec, "clinic")
        if clinic not in clinic_ids:
            raise ScenarioError(f"{where}: unknown clinic {clinic!r}")
        kind = _str(where, spec, "kind", "owner")
        if kind not in ("owner", "farm"):
            raise ScenarioError(f"{where}: kind must be owner or farm")
        owners.append(Owner(oid, clinic, str(spec.get("name", oid)), kind))
    animal_list = _animals(raw, clinic_ids, {o.id: o.clinic for o in owners})
    animals = {a.id: a for a in animal_list}
    if len(animals) != len(animal_list):
        raise ScenarioError("animal ids must be unique")
    devices = _devices(raw, animals)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or seed < 0:
        raise ScenarioError("seed must be a non-negative integer")
    environment = raw.get("environment", {})
    if not isinstance(environment, dict):
        raise ScenarioError("[environment] must be a table")
    return Scenario(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")),
        duration_s=_duration("duration", raw.get("duration", "1d")),
        seed=seed,
        clinics=tuple(clinics),
        owners=tuple(owners),
        animals=tuple(animal_list),
        devices=tuple(devices),
        anomalies=tuple(_anomalies(raw, animals)),
        environment=environment,
    )
