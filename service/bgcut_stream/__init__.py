"""bgcut-stream: Kafka image jobs in, background-removed images out (BackgroundCut API v3)."""

__version__ = "0.2.0"
