"""The fast path of the batcher: well-formed telemetry straight to rows, everything else to the careful parser.

Most messages are well formed: Vigie JSON whose readings are all numbers in an accepted unit, of a registered and
enabled device, within the time window. For those, one loop over a whole socket read does what
:func:`ingest._parse.parse_message` does, without its per-message objects; it produces exactly the rows
``parse_message`` would (``tests/ingest/test_fastpath.py`` checks that on random valid and invalid payloads).
A message it does not fully accept, for whatever reason, is handed back untouched (its rows already appended
are removed) and goes through ``parse_message``, so every rejection keeps its reason and detail.

Topics are cut once per topic string (:class:`Route`, cached), and the device they name is looked up once per
registry snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from ingest._parse import DeviceInfo, Limits, RegistryView, Row
from ingest._topics import TELEMETRY, split_topic
from vigie.catalog import MetricCatalog

MAX_ROUTES = 100_000  # cached topics; the cache starts over beyond (topics come from the network)


class Route:
    """What a topic names: decoded once, with its device as of one registry snapshot."""

    __slots__ = ("device", "device_id", "kind", "topic", "view")

    def __init__(self, topic: str, device_id: str | None, kind: str | None) -> None:
        self.topic = topic
        self.device_id = device_id  # None for a topic outside ``{root}/devices/{id}/{telemetry|status}``
        self.kind = kind
        self.view: RegistryView | None = None
        self.device: DeviceInfo | None = None  # set by :meth:`bind`: the device if registered and enabled

    def bind(self, view: RegistryView) -> None:
        """Look the device up in ``view`` (once per snapshot)."""
        device = view.devices.get(self.device_id) if self.device_id is not None else None
        self.device = device if device is not None and device.enabled and self.kind == TELEMETRY else None
        self.view = view


class FastPath:
    """Routes topics and turns well-formed telemetry into rows; see the module docstring."""

    def __init__(self, catalog: MetricCatalog, limits: Limits, root: str) -> None:
        self._root = root
        self._limits = limits
        # (metric, unit) → (factor, min, max, device level), for the metrics whose values are numbers
        self._units: dict[tuple[str, str], tuple[float, float, float, bool]] = {
            (m.name, unit): (factor, m.min, m.max, m.device_level)
            for m in catalog.metrics.values()
            if m.kind == "number"
            for unit, factor in m.units.items()
        }
        self._routes: dict[bytes, Route] = {}

    def route(self, topic: bytes) -> Route:
        """The route of ``topic`` (cached)."""
        route = self._routes.get(topic)
        if route is None:
            text = topic.decode("utf-8", "replace")
            where = split_topic(text, self._root)
            route = Route(text, *where) if where is not None else Route(text, None, None)
            if len(self._routes) >= MAX_ROUTES:
                self._routes.clear()
            self._routes[topic] = route
        return route

    def take(  # noqa: PLR0915 - the hot loop, kept in one piece for speed
        self,
        topics: list[bytes],
        payloads: list[bytes],
        now: float,
        view: RegistryView,
        rows: list[Row],
        seen: dict[str, float],
    ) -> list[int]:
        """Append the rows of every well-formed message received at ``now``; note its device in ``seen``.

        Returns the indices of the other messages (status, foreign topics, anything not accepted whole), whose rows
        were not kept: they are for :func:`ingest._parse.parse_message`.
        """
        slow: list[int] = []
        routes, units = self._routes, self._units
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        from_iso, from_ts, utc = datetime.fromisoformat, datetime.fromtimestamp, UTC
        animal_clinic = view.animal_clinic
        limits = self._limits
        max_bytes = limits.max_payload_bytes
        lo, hi = now - limits.past_horizon_s, now + limits.future_tolerance_s
        for i, topic in enumerate(topics):
            route = routes.get(topic)
            if route is None:
                route = self.route(topic)
            if route.view is not view:
                route.bind(view)
            device = route.device
            payload = payloads[i]
            if device is None or len(payload) > max_bytes:
                slow.append(i)
                continue
            try:
                doc = loads(payload)
            except decode_error:
                slow.append(i)
                continue
            if type(doc) is not dict:
                slow.append(i)
                continue
            seq = doc.get("seq")
            readings = doc.get("readings")
            if type(seq) is not int or seq < 0 or type(readings) is not list or not readings or "records" in doc:
                slow.append(i)
                continue
            device_id, clinic, bound = route.device_id, device.clinic_id, device.animal_id
            mark = len(rows)
            for item in readings:
                if type(item) is not dict:
                    break
                metric = item.get("metric")
                unit = item.get("unit")
                if type(metric) is not str or type(unit) is not str:
                    break
                spec = units.get((metric, unit))
                if spec is None:
                    break
                raw_time = item.get("time")
                if type(raw_time) is str:
                    try:
                        when = from_iso(raw_time)
                    except ValueError:
                        break
                    if when.tzinfo is None:
                        break
                    ts = when.timestamp()
                    if not lo <= ts <= hi:
                        break
                elif type(raw_time) is float or type(raw_time) is int:
                    ts = float(raw_time)
                    if not lo <= ts <= hi:
                        break
                    when = from_ts(ts, utc)
                else:
                    break
                raw = item.get("value")
                if type(raw) is not float and type(raw) is not int:
                    break
                factor, low, high, device_level = spec
                value = float(raw) * factor  # x 1.0 is exact: the same value as the careful path
                if not low <= value <= high:
                    break
                animal = item.get("animal_id")
                if device_level:
                    if animal is not None and type(animal) is not str:
                        break
                    animal = None
                elif bound is not None:
                    if animal is not None and animal != bound:
                        break
                    animal = bound
                elif type(animal) is not str or animal_clinic.get(animal) != clinic:
                    break
                rows.append((when, device_id, animal, metric, value, clinic, seq))  # type: ignore[arg-type]
            else:
                seen[device_id] = now  # type: ignore[index]
                continue
            del rows[mark:]
            slow.append(i)
        return slow
