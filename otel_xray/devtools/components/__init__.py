"""The real components, run locally, and everything that receives traces from a function.

``runners`` starts the real OpenTelemetry collector (built from
``collector/builder-config.yaml``) and the real X-Ray daemon as processes on loopback,
pointed at the local X-Ray API. ``xray_api`` is that API: botocore's ``xray`` model
(``PutTraceSegments``, the read side, sampling), with SigV4 checked by ``sigv4`` after
AWS's signing specification, and X-Ray's OTLP endpoint ``/v1/traces`` (``xray_otlp``,
after the CloudWatch OTLP endpoint's page). ``daemon`` is a stand-in for the daemon's
UDP side that reads datagrams the way aws-xray-daemon's source does (segment documents
and OTLP datagrams), and ``receiver`` an OTLP/HTTP receiver that decodes what a function
exports with opentelemetry-proto, playing the collector extension. The local Lambda
(:mod:`otel_xray.devtools.functions`) exports to whichever of these its exporter names.
"""
