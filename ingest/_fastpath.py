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

from datetime import UTC, datetime, timedelta

import orjson

from ingest._parse import DeviceInfo, Limits, RegistryView, Row
from ingest._topics import TELEMETRY, split_topic
from vigie.catalog import MetricCatalog

MAX_ROUTES = 100_000  # cached topics; the cache starts over beyond (topics come from the network)
_ONE_US, _ONE_HOUR = timedelta(microseconds=1), timedelta(hours=1)


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
        hours: set[float],
    ) -> list[int]:
        """Append the rows of every well-formed message received at ``now``; note its device in ``seen`` and the
        hours of its rows in ``hours`` (epoch seconds // 3600).

        Returns the indices of the other messages (status, foreign topics, anything not accepted whole), whose rows
        were not kept: they are for :func:`ingest._parse.parse_message`.
        """
        slow: list[int] = []
        new_hours: list[float] = []  # the hours this call added to ``hours``, in order (to undo a message's)
        routes, units = self._routes, self._units
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        from_iso, from_ts, utc = datetime.fromisoformat, datetime.fromtimestamp, UTC
        animal_clinic = view.animal_clinic
        limits = self._limits
        max_bytes = limits.max_payload_bytes
        lo, hi = now - limits.past_horizon_s, now + limits.future_tolerance_s
        # An RFC 3339 time is checked as a datetime, without its epoch seconds: inside [lo_dt, hi_dt] its timestamp()
        # is inside [lo, hi], as the careful path requires (the bounds are 1 µs inside: datetimes are rounded to
        # the µs, a timestamp() is within 0.12 µs of exact), and a time within 1.5 µs of a bound goes the careful way.
        lo_dt, hi_dt = from_ts(lo, utc) + _ONE_US, from_ts(hi, utc) - _ONE_US
        # the hour of the last time looked at, as [h_start, h_end): its epoch hour is in ``hours`` already
        h_start = h_end = lo_dt
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
            mark, hours_mark = len(rows), len(new_hours)
            hour: float | None = None
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
                    if when.tzinfo is None or not lo_dt <= when <= hi_dt:  # (a naive time is never compared)
                        break
                    if not h_start <= when < h_end:
                        hour = when.timestamp() // 3600
                        h_start = from_ts(hour * 3600, utc)
                        h_end = h_start + _ONE_HOUR
                elif type(raw_time) is float or type(raw_time) is int:
                    ts = float(raw_time)
                    if not lo <= ts <= hi:
                        break
                    when = from_ts(ts, utc)
                    hour = ts // 3600
                else:
                    break
                if hour is not None:  # the rollup marks: an hour the row may add (taken back with the message)
                    if hour not in hours:
                        hours.add(hour)
                        new_hours.append(hour)
                    hour = None
                raw = item.get("value")
                if type(raw) is not float and type(raw) is not int:
                    break
                factor, low, high, device_level = spec
                value = raw * factor  # an int is made a float first, as float(raw); x 1.0 is exact: same value
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
            if len(new_hours) > hours_mark:
                hours.difference_update(new_hours[hours_mark:])
                del new_hours[hours_mark:]
            h_start = h_end = lo_dt  # its hour may have been one of those
            slow.append(i)
        return slow
