"""Avro events: ImageJob in, ImageResult out; single-object encoding or Schema Registry framing."""
