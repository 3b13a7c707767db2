"""Prometheus metrics read from the observatory when scraped (no global counters).

A custom collector on a private registry reports, per service: events seen by
kind, events kept and dropped by retention, sessions open, and listeners bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from zoo.admin.sessions import sessions
from zoo.events import Filter, Observatory


class HubCollector:
    """Collects the observatory's figures each time it is scraped."""

    def __init__(self, hub: Observatory, listeners: Callable[[], list[Any]]) -> None:
        self.hub = hub
        self.listeners = listeners

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "zoo_events", "Events emitted, by service and kind.", labels=["service", "kind"]
        )
        for (service, kind), n in sorted(self.hub.counts.items()):
            events.add_metric([service, kind], n)
        yield events
        kept = GaugeMetricFamily(
            "zoo_events_kept", "Events kept now, by service and store.", labels=["service", "store"]
        )
        dropped = CounterMetricFamily(
            "zoo_events_dropped",
            "Events dropped by retention, by service and store.",
            labels=["service", "store"],
        )
        kept_bytes = GaugeMetricFamily(
            "zoo_events_kept_bytes", "Estimated bytes kept.", labels=["service", "store"]
        )
        for service, stats in sorted(self.hub.stats().items()):
            for store, prefix in (("events", ""), ("wire", "wire_")):
                kept.add_metric([service, store], stats[prefix + "kept"])
                dropped.add_metric([service, store], stats[prefix + "dropped"])
                kept_bytes.add_metric([service, store], stats[prefix + "bytes"])
        yield kept
        yield dropped
        yield kept_bytes
        open_now = Counter(
            r["service"]
            for r in sessions(self.hub.events(Filter.of(kind="session."))).values()
            if r["open"]
        )
        gauge = GaugeMetricFamily("zoo_sessions_open", "Sessions open.", labels=["service"])
        for service, n in sorted(open_now.items()):
            gauge.add_metric([service], n)
        yield gauge
        bound = Counter(b.service for b in self.listeners())
        listeners = GaugeMetricFamily("zoo_listeners", "Listeners bound.", labels=["service"])
        for service, n in sorted(bound.items()):
            listeners.add_metric([service], n)
        yield listeners


def registry(hub: Observatory, listeners: Callable[[], list[Any]]) -> CollectorRegistry:
    """A private registry holding only the L{HubCollector}."""
    made = CollectorRegistry(auto_describe=False)
    made.register(HubCollector(hub, listeners))  # type: ignore[arg-type]
    return made


def render(made: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus's text format, and its content type."""
    return exposition.generate_latest(made), exposition.CONTENT_TYPE_LATEST
