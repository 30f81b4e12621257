"""``bgcut-stream dlq replay``: send dead-lettered jobs back to the jobs topic."""

from __future__ import annotations

import re
import time
import uuid

import typer
from confluent_kafka import Consumer, KafkaError, Producer

from bgcut_stream.stream.dead_letters import DLQ_HEADER_PREFIX
from bgcut_stream.stream.settings import StreamSettings

app = typer.Typer(help="Inspect and replay dead-letter topics.")


@app.command()
def replay(
    from_topic: str = typer.Option(..., "--from", help="Dead-letter topic to read."),
    to_topic: str | None = typer.Option(None, "--to", help="Target (default: the jobs topic)."),
    key_filter: str | None = typer.Option(None, "--filter", help="Regex on the record key."),
    dry_run: bool = typer.Option(False, help="Print what would be replayed, send nothing."),
    group: str | None = typer.Option(
        None, help="Consumer group to remember progress (default: read everything once)."
    ),
    idle_timeout_s: float = typer.Option(5.0, help="Stop after this long without records."),
) -> None:
    """Re-publish records with their original key, value and headers (dlq headers removed)."""
    settings = StreamSettings()
    target = to_topic or settings.jobs_topic
    pattern = re.compile(key_filter) if key_filter else None
    consumer = Consumer(
        settings.kafka(
            **{
                "group.id": group or f"bgcut-dlq-replay-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
    )
    producer = Producer(settings.kafka(**{"enable.idempotence": True}))
    consumer.subscribe([from_topic])
    replayed = skipped = 0
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_timeout_s:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    typer.echo(f"error: {error}", err=True)
                continue
            last = time.monotonic()
            key = (msg.key() or b"").decode(errors="replace")
            if pattern is not None and not pattern.search(key):
                skipped += 1
                continue
            all_headers = [(str(h[0]), h[1]) for h in msg.headers() or []]
            headers = [h for h in all_headers if not h[0].startswith(DLQ_HEADER_PREFIX)]
            reason = dict(all_headers).get(DLQ_HEADER_PREFIX + "reason", b"?")
            typer.echo(
                f"{'would replay' if dry_run else 'replay'} key={key} "
                f"reason={reason.decode() if isinstance(reason, bytes) else reason}"
            )
            if not dry_run:
                producer.produce(target, key=msg.key(), value=msg.value(), headers=headers)
            replayed += 1
        producer.flush(30)
        if group and not dry_run:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    typer.echo(
        f"{'would replay' if dry_run else 'replayed'} {replayed}, skipped {skipped} "
        f"({from_topic} -> {target})"
    )
