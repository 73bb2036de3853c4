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
