"""A payment function traced with Powertools for AWS Lambda's Tracer (its documented
example), as it is before moving to otel-xray: the input of tests/unit/test_doctor.py."""

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

tracer = Tracer()  # POWERTOOLS_SERVICE_NAME=payment


@tracer.capture_method
def collect_payment(charge_id: str) -> str:
    tracer.put_annotation(key="PaymentId", value=charge_id)
    tracer.put_metadata(key="payment_response", value={"charge": charge_id})
    return f"dummy payment collected for charge: {charge_id}"


@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> str:
    with tracer.provider.in_subsegment("## validate") as subsegment:
        subsegment.put_annotation(key="ChargeId", value=event.get("charge_id", ""))
    return collect_payment(charge_id=event.get("charge_id", ""))
