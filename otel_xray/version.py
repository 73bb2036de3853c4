"""The otel-xray version (kept here so reading it costs no metadata lookup)."""

__version__ = "0.1.0"
