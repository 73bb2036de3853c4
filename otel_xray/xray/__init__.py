"""X-Ray segment documents (the translation from OpenTelemetry spans).

The span attributes through which code speaks to the translator live here, so the
API that writes them and the translator that reads them share one spelling.
"""

#: Span attribute listing the attribute keys that are X-Ray annotations.
ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
#: ``aws.xray.metadata.<namespace>`` holding a JSON object: metadata of that namespace.
METADATA_PREFIX = "aws.xray.metadata."
#: A subsegment's ``error``, ``throttle`` and ``fault`` flags set by code (the X-Ray SDK's
#: ``add_error_flag`` ...), not derived from an HTTP status or the span's status.
FLAG_ATTRIBUTES = {
    "error": "aws.xray.error",
    "throttle": "aws.xray.throttle",
    "fault": "aws.xray.fault",
}
#: A JSON list of X-Ray ``cause.exceptions`` recorded as the X-Ray SDK records them
#: (its ``Throwable``: id, type, message, remote, stack of path/line/label); the
#: translator writes them as the document's cause, ahead of exception events.
CAUSE_ATTRIBUTE = "aws.xray.cause"
#: On an ``exception`` event: the id of the same exception in ``CAUSE_ATTRIBUTE`` (the
#: translator writes it once).
CAUSE_ID_ATTRIBUTE = "aws.xray.cause.id"
#: X-Ray's limits on annotations: key length, string value length, count per trace.
MAX_ANNOTATION_KEY = 500
MAX_ANNOTATION_VALUE = 1000
MAX_ANNOTATIONS_PER_TRACE = 50
#: Span links one segment document carries; the rest are left out.
MAX_LINKS = 20
#: X-Ray's service type (a segment's ``origin``) by resource ``cloud.platform``: the
#: collector's ``determineAwsOrigin`` (segment.go), plus Lambda's function type, which
#: Lambda's own segment carries and the sampler reports as its service type.
ORIGIN_BY_PLATFORM = {
    "aws_lambda": "AWS::Lambda::Function",
    "aws_ec2": "AWS::EC2::Instance",
    "aws_ecs": "AWS::ECS::Container",
    "aws_eks": "AWS::EKS::Container",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
    "aws_app_runner": "AWS::AppRunner::Service",
}
#: ECS by ``aws.ecs.launchtype`` (determineAwsOrigin).
ECS_ORIGIN_BY_LAUNCH_TYPE = {"ec2": "AWS::ECS::EC2", "fargate": "AWS::ECS::Fargate"}
#: The daemon's protocol: each UDP datagram starts with this line, then one document.
DAEMON_HEADER = b'{"format":"json","version":1}\n'
#: The daemon's receive buffer: a larger datagram is dropped whole.
MAX_DATAGRAM_BYTES = 64 * 1024
#: Metadata bounds, applied after redaction: one string, and one namespace as JSON.
MAX_METADATA_STRING = 4096
MAX_METADATA_BYTES = 16 * 1024
