"""A whole serverless app from the SAM template a team deploys (``otel-xray up``).

``app`` reads ``AWS::Serverless::Function`` resources, their ``Events`` and the
resources they name, resolves the intrinsics as CloudFormation and SAM do (checked
against aws-sam-translator in the tests), and runs every function and front door of
:mod:`otel_xray.devtools.services` and :mod:`otel_xray.devtools.functions`.
``cloudformation`` reads X-Ray groups and writes sampling rules as CloudFormation.
``doctor`` reads the same templates and the functions' code for what moving a function
to the layer needs (``otel-xray doctor``): X-Ray SDK and Powertools usage, tracing and
layer settings, anything that would trace twice.
"""
