"""The real components, run locally, and the receivers that stand in for them.

``runners`` starts the real OpenTelemetry collector (built from
``collector/builder-config.yaml``) and the real X-Ray daemon as processes on loopback,
pointed at the local X-Ray API. ``daemon`` is a stand-in for the daemon's UDP side that
reads datagrams the way aws-xray-daemon's source does (header line, then the
document), and ``receiver`` an OTLP/HTTP receiver that decodes what a function exports
with opentelemetry-proto, playing the collector extension.
"""
