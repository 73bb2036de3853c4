"""X-Ray segment documents (the translation from OpenTelemetry spans).

The span attributes through which code speaks to the translator live here, so the
API that writes them and the translator that reads them share one spelling.
"""

#: Span attribute listing the attribute keys that are X-Ray annotations.
ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
#: ``aws.xray.metadata.<namespace>`` holding a JSON object: metadata of that namespace.
METADATA_PREFIX = "aws.xray.metadata."
#: X-Ray's limit on an annotation's string value.
MAX_ANNOTATION_VALUE = 1000
#: X-Ray's service type (a segment's ``origin``) by resource ``cloud.platform``.
ORIGIN_BY_PLATFORM = {
    "aws_lambda": "AWS::Lambda::Function",
    "aws_ec2": "AWS::EC2::Instance",
    "aws_ecs": "AWS::ECS::Container",
    "aws_eks": "AWS::EKS::Container",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
}
