"""The ledger calls, written directly against the X-Ray SDK (some of it not bridged)."""

from aws_xray_sdk.core import AWSXRayRecorder, patch, xray_recorder

xray_recorder.configure(plugins=("EC2Plugin",), context_missing="LOG_ERROR")
patch(["botocore", "aiobotocore"])
audit = AWSXRayRecorder()


@xray_recorder.capture("## write_ledger")
def write_ledger(entry: dict) -> None:
    xray_recorder.put_metadata("entry", entry, "ledger")
