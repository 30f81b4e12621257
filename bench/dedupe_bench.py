"""The done table at scale: memory per million SUCCEEDED job_ids, restore time at one million.

1. RSS: a fresh process fills a ``DoneWindow`` with N uuid-like job_ids (``/proc`` VmRSS
   before and after), beside a plain ``dict[str, str]`` of the same ids (what the table held
   before it was windowed).
2. Restore: N done records are produced to a fresh ``compact,delete`` topic on the local
   broker; ``DoneTable.start()`` is timed until it has restored them all.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bgcut_stream.localstack import kafka
from bgcut_stream.stream.compacted import CompactedTable
from bgcut_stream.stream.dedupe import SUCCEEDED, DoneTable

ROOT = Path(__file__).parent.parent
WEEK_S = 7 * 24 * 3600.0

_RSS_PROBE = """
import sys, uuid
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
n, kind = int(sys.argv[1]), sys.argv[2]
from bgcut_stream.stream.dedupe import DoneWindow
before = rss()
if kind == "window":
    table = DoneWindow(7 * 24 * 3600.0)
    for i in range(n):
        table.add(str(uuid.UUID(int=i)))
    assert str(uuid.UUID(int=0)) in table and len(table) == n
else:  # what the table held before: every job_id string, decoded from the topic
    table = {str(uuid.UUID(int=i)): "SUCCEEDED" for i in range(n)}
print(rss() - before)
"""


def rss_mib(count: int, kind: str) -> float:
    """Resident memory a table of ``count`` ids adds, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(count), kind],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def restore_seconds(bootstrap: str, count: int) -> float:
    """Produce ``count`` done records, then time a DoneTable restoring them."""
    topic = f"dedupe-bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"cleanup.policy": "compact,delete", "retention.ms": str(int(WEEK_S * 1000))}
    admin.create_topics([NewTopic(topic, 3, 1, config=config)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1 << 20})
    value = CompactedTable.encode(SUCCEEDED)
    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=str(uuid.UUID(int=i)).encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(120)
    table = DoneTable({"bootstrap.servers": bootstrap}, topic, WEEK_S)
    started = time.perf_counter()
    restored = table.start(timeout_s=600)
    elapsed = time.perf_counter() - started
    table.close()
    admin.delete_topics([topic])
    if restored != count:
        raise RuntimeError(f"restored {restored} of {count}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    window = rss_mib(args.count, "window")
    plain = rss_mib(args.count, "dict")
    with kafka(ROOT / ".bgcut" / "kafka") as broker:
        restore = restore_seconds(broker.bootstrap, args.count)
    per_million = 1e6 / args.count
    print("| entries | done window RSS MiB / 1M | unwindowed dict RSS MiB / 1M | restore s |")
    print("|---|---|---|---|")
    print(
        f"| {args.count} | {window * per_million:.0f} | {plain * per_million:.0f} | {restore:.1f} |"
    )
    print(json.dumps({"entries": args.count, "window_mib": window, "restore_s": restore}))


if __name__ == "__main__":
    main()
