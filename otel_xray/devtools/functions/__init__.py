"""The Lambda side: a sandbox, the Runtime API, and the segments Lambda itself writes.

Emulates what the Lambda developer guide publishes about running a Python function:
the sandbox's file system and interpreter (``sandbox``, ``interpreters``,
``bootstrap``, after Lambda's ``/var/runtime/bootstrap.py``), the Runtime API
2018-06-01 that the real runtime client (awslambdaric) polls (``runtime_api``), one
function run through the layer's exec wrapper as Lambda runs it (``invoke``), the
``AWS::Lambda`` and ``AWS::Lambda::Function`` segments Lambda sends with active tracing
(``lambda_segments``, after the X-Ray guide's Lambda page), Lambda's Invoke API in
front of local functions (``invoke_endpoint``) and the SQS event source mapping
(``event_sources``). Builds on :mod:`otel_xray.devtools.components` for the daemon and
OTLP receivers a function exports to.
"""
