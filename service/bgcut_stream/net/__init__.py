"""Outbound network policy (egress guard)."""
