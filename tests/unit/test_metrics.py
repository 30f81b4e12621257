"""``observability.metrics``: the service's registry also carries the process and GC families."""

from __future__ import annotations

import gc

from bgcut_stream.observability.metrics import StreamMetrics


def test_process_and_gc_families_are_exported() -> None:
    registry = StreamMetrics().registry
    gc.collect()
    assert (registry.get_sample_value("process_cpu_seconds_total") or 0) > 0
    assert (registry.get_sample_value("process_resident_memory_bytes") or 0) > 0
    collections = registry.get_sample_value("python_gc_collections_total", {"generation": "2"})
    assert collections is not None
    assert collections >= 1
