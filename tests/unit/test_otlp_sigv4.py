"""The OTLP exporter's SigV4 signer and credential chain, against botocore's.

Reference: ``botocore.auth.SigV4Auth`` (what ADOT's ``AwsAuthSession.request`` signs
with, aws-otel-python-instrumentation
``exporter/otlp/aws/common/aws_auth_session.py``), and botocore's
``ContainerProvider`` for the container credentials URI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.devtools.components.sigv4 import verify
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.export.aws_auth import CredentialChain, Credentials, CredentialsError, SigV4Signer
from otel_xray.settings import AwsCredentialEnv

token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=", max_size=40)
key = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=20)
regions = st.sampled_from(["us-east-1", "eu-west-3", "ap-southeast-2", "cn-north-1"])
urls = st.sampled_from(
    [
        "https://xray.us-east-1.amazonaws.com/v1/traces",
        "https://xray.cn-north-1.amazonaws.com.cn/v1/traces",
        "http://127.0.0.1:4318/v1/traces",
        "https://vpce-0a1b.xray.us-east-1.vpce.amazonaws.com:8443/v1/traces",
        "http://[::1]:9000/v1/traces",
        "https://proxy.example.com/otlp/./v1/../v1/traces",
    ]
)
header_sets = st.sampled_from(
    [
        {"Content-Type": "application/x-protobuf"},
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        {"Content-Type": "application/json", "User-Agent": "otel-xray", "X-Extra": "a  b"},
    ]
)


@settings(max_examples=200)
@given(urls, regions, key, key, st.none() | token, st.binary(max_size=300), header_sets)
def test_signature_is_botocores(
    url: str,
    region: str,
    access: str,
    secret: str,
    session_token: str | None,
    body: bytes,
    headers: dict[str, str],
) -> None:
    """Same Authorization header as ``SigV4Auth(creds, "xray", region).add_auth`` given the
    same headers, body and X-Amz-Date (botocore stamps the date; we sign at its date)."""
    request = AWSRequest("POST", url, data=body, headers=dict(headers))
    SigV4Auth(BotocoreCredentials(access, secret, session_token), "xray", region).add_auth(request)
    ours = SigV4Signer(region, "xray").sign(
        "POST",
        url,
        headers,
        body,
        Credentials(access, secret, session_token),
        amz_date=request.headers["X-Amz-Date"],
    )
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")
    assert "X-Amz-Content-SHA256" not in request.headers  # nor do we send it


def test_the_local_endpoints_verifier_accepts_it() -> None:
    body = b"\x1f\x8b gzip bytes"
    headers = SigV4Signer("us-east-1").sign(
        "POST",
        "http://127.0.0.1:4318/v1/traces",
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        body,
        Credentials("testing", "testing", "tok"),
    )
    assert verify("POST", "/v1/traces", headers, body, {"testing": "testing"}) == "testing"


def test_the_verifiers_clock_is_utc_in_any_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """X-Amz-Date is UTC. Found in review: the skew check read it as local time less the
    standard offset, an hour off wherever daylight saving time was in effect, so every
    request failed "Signature expired". The zone is one where daylight saving time is
    in effect today (Berlin in the northern summer, Sydney in the southern one)."""
    import time  # noqa: PLC0415

    for zone in ("Europe/Berlin", "Australia/Sydney"):  # one of them is always in DST
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        if time.localtime().tm_isdst == 1:
            break
    try:
        assert time.localtime().tm_isdst == 1
        body = b"{}"
        headers = SigV4Signer("us-east-1").sign(
            "POST", "http://127.0.0.1:4318/v1/traces", {}, body, Credentials("testing", "testing")
        )
        assert verify("POST", "/v1/traces", headers, body, {"testing": "testing"}) == "testing"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_environment_credentials_come_first() -> None:
    chain = CredentialChain(
        AwsCredentialEnv(
            access_key_id="AKID",
            secret_access_key="s",
            session_token="t",
            container_full_uri="http://127.0.0.1:9/never",
        )
    )
    assert chain.get() == Credentials("AKID", "s", "t")


class _Credentials(LoopbackHandler):
    calls: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).calls.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != "secret-token":
            self.reply_json(401, {"message": "unauthorized"})
            return
        self.reply_json(
            200,
            {
                "AccessKeyId": "ASIACONTAINER",
                "SecretAccessKey": "container-secret",
                "Token": "container-token",
                "Expiration": "2999-01-01T00:00:00Z",
            },
        )


def test_the_container_credentials_uri_with_a_token_file(tmp_path: Path) -> None:
    """SnapStart and ECS: AWS_CONTAINER_CREDENTIALS_FULL_URI and the token (file); fetched
    once and cached until near its Expiration (botocore ``ContainerProvider``)."""
    handler = type("Creds", (_Credentials,), {"calls": []})
    token_file = tmp_path / "token"
    token_file.write_text("secret-token\n")
    with LoopbackServer(handler) as server:
        chain = CredentialChain(
            AwsCredentialEnv(
                container_full_uri=f"http://{server.address}/creds",
                container_token_file=str(token_file),
            )
        )
        first = chain.get()
        assert first[:3] == ("ASIACONTAINER", "container-secret", "container-token")
        assert chain.get() == first
        assert handler.calls == ["secret-token"]
        chain.forget()
        token_file.write_text("wrong")
        with pytest.raises(CredentialsError, match="container credentials endpoint"):
            chain.get()


def test_without_any_credentials_the_error_names_the_fix() -> None:
    # botocore finds none either: an empty environment and no profile.
    code = (
        "from otel_xray.export.aws_auth import CredentialChain, CredentialsError\n"
        "from otel_xray.settings import AwsCredentialEnv\n"
        "try:\n    CredentialChain(AwsCredentialEnv()).get()\n"
        "except CredentialsError as e:\n    print(e)\n"
    )
    env = {"HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true", "PATH": "/usr/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "AWS_ACCESS_KEY_ID" in out and "AWS_CONTAINER_CREDENTIALS_FULL_URI" in out


def test_environment_credentials_never_import_botocore() -> None:
    """A Lambda function with credentials in its environment never pays botocore's import."""
    code = (
        "import sys, json\n"
        "from otel_xray.export.aws_auth import CredentialChain\n"
        "from otel_xray.settings import AwsCredentialEnv\n"
        "CredentialChain(AwsCredentialEnv.from_env({'AWS_ACCESS_KEY_ID': 'a',"
        " 'AWS_SECRET_ACCESS_KEY': 'b'})).get()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('botocore'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_secrets_are_not_in_reprs() -> None:
    env = AwsCredentialEnv.from_env(
        {
            "AWS_ACCESS_KEY_ID": "AKID",
            "AWS_SECRET_ACCESS_KEY": "hush",
            "AWS_SESSION_TOKEN": "t0k3n-v4lue",
        }
    )
    assert "hush" not in repr(env) and "t0k3n-v4lue" not in repr(env)
    assert "hush" not in repr(Credentials("AKID", "hush", "tok"))
