"""Metrics, structured logging and the health/metrics HTTP endpoint of the stream service."""
