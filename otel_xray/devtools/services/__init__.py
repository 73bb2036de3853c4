"""The AWS front doors: the services a traced request passes through, on loopback.

Each passes the trace header on as AWS documents it, and records the segments the
service itself records, with the source of each rule in its module:

- API Gateway REST stages (``api_gateway``, the X-Ray guide's API Gateway page);
- SNS topics, pass-through or with active tracing (``sns``, its SNS page);
- EventBridge buses (``eventbridge``, the EventBridge User Guide's X-Ray page);
- Step Functions state machines (``stepfunctions``, the Step Functions guide's X-Ray
  page, botocore's model and console screenshots; field names inferred, and marked so);
- moto's server for the data services, plus the header handling moto leaves out
  (``moto_server``);
- the metadata endpoints a service reads to say where it runs: ECS task metadata v4,
  EC2's IMDSv2, the Kubernetes API (``metadata``, each shape from its AWS page).

The X-Ray API itself is a component (:mod:`otel_xray.devtools.components`): the local
Lambda exports to it. These build on :mod:`otel_xray.devtools.functions` (the functions
behind the doors) and :mod:`otel_xray.devtools.traces` (where the documents land).
"""
