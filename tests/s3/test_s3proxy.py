"""tests/s3proxy.py: transparent when told to be, and a store that ignores conditions when not."""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import io
import uuid
import zlib
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.s3proxy import Credentials, S3Proxy, sigv4_authorization

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(seaweed):
    name = f"prx-{uuid.uuid4().hex[:20]}"
    seaweed.make_bucket(name)
    return name


@pytest.fixture
def credentials(seaweed):
    return Credentials(seaweed.access_key, seaweed.secret_key)


@pytest.fixture
def passthrough(seaweed):
    with S3Proxy(seaweed.endpoint, strip_conditions=False) as proxy:
        yield proxy


def _body(client, bucket, key):
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_signer_reproduces_botocore_signatures(seaweed, bucket, credentials):
    client = seaweed.client()
    seen = []
    client.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(request))
    client.put_object(
        Bucket=bucket, Key="a key/with spaces+plus", Body=b"x", IfNoneMatch="*", Metadata={"m": "1"}
    )
    client.list_objects_v2(Bucket=bucket, Prefix="a key/", StartAfter="a", MaxKeys=5)
    assert len(seen) == 2
    for request in seen:
        parts = urlsplit(request.url)
        # Host is signed, and added by the HTTP layer after this hook: as the proxy will see it.
        headers = [("Host", parts.netloc)]
        headers += [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
        values = {k.lower(): v for k, v in headers}
        auth = values["authorization"]
        fields = dict(p.strip().split("=", 1) for p in auth.split(" ", 1)[1].split(","))
        again = sigv4_authorization(
            method=request.method,
            path=parts.path,
            query=parts.query,
            headers=headers,
            signed_headers=fields["SignedHeaders"].split(";"),
            credential_scope=fields["Credential"].split("/", 1)[1],
            amz_date=values["x-amz-date"],
            payload_hash=values["x-amz-content-sha256"],
            credentials=credentials,
        )
        assert again == auth


def test_stripping_proxy_lets_two_create_only_puts_succeed(seaweed, bucket, s3_proxy_ignoring_conditions):
    s3 = seaweed.client(s3_proxy_ignoring_conditions.url)
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")  # would be 412
    stale = '"' + "0" * 32 + '"'
    s3.put_object(Bucket=bucket, Key="k", Body=b"third", IfMatch=stale)  # would be 412
    assert _body(seaweed.client(), bucket, "k") == b"third"  # last writer wins
    assert s3_proxy_ignoring_conditions.stripped == 3


def test_stripping_proxy_ignores_conditions_on_complete_multipart_upload(
    seaweed, bucket, s3_proxy_ignoring_conditions
):
    s3 = seaweed.client(s3_proxy_ignoring_conditions.url)
    for data in (b"a" * 10, b"b" * 10):
        upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=data)
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload,
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
            IfNoneMatch="*",
        )
    assert _body(s3, bucket, "k") == b"b" * 10


def test_s3_home_ignoring_conditions_points_at_the_proxy(s3_home_ignoring_conditions, seaweed):
    home = s3_home_ignoring_conditions
    assert home.env["AWS_ENDPOINT_URL_S3"] == home.endpoint != seaweed.endpoint
    s3 = seaweed.client(home.endpoint)
    key = f"{home.prefix}/k"
    s3.put_object(Bucket=home.bucket, Key=key, Body=b"1", IfNoneMatch="*")
    s3.put_object(Bucket=home.bucket, Key=key, Body=b"2", IfNoneMatch="*")
    assert _body(home.client, home.bucket, key) == b"2"


def test_stripping_without_credentials_refuses_rather_than_break_the_signature(seaweed, bucket):
    with S3Proxy(seaweed.endpoint, strip_conditions=True) as proxy:
        s3 = seaweed.client(proxy.url)
        with pytest.raises(ClientError) as excinfo:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*")
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # nothing to strip: forwarded as is
    assert _body(seaweed.client(), bucket, "k") == b"x"


def test_passthrough_proxy_keeps_conditions(seaweed, bucket, passthrough):
    s3 = seaweed.client(passthrough.url)
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert excinfo.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="k", Body=b"third", IfMatch=first)
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"fourth", IfMatch=first)
    assert excinfo.value.response["Error"]["Code"] == "PreconditionFailed"
    assert _body(s3, bucket, "k") == b"third"
    assert passthrough.stripped == 0


def test_passthrough_proxy_is_transparent(seaweed, bucket, passthrough):
    from boto3.s3.transfer import TransferConfig

    via, direct = seaweed.client(passthrough.url), seaweed.client()
    data = bytes(range(256)) * 45_000  # 11.5 MB: three parts of a multipart upload
    config = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    via.upload_fileobj(io.BytesIO(data), bucket, "big", Config=config, ExtraArgs={"Metadata": {"m": "v"}})
    assert _body(direct, bucket, "big") == data
    out = io.BytesIO()
    via.download_fileobj(bucket, "big", out)
    assert out.getvalue() == data
    ranged = via.get_object(Bucket=bucket, Key="big", Range="bytes=1000-1999")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert ranged["Body"].read() == data[1000:2000]
    head_via, head_direct = (
        via.head_object(Bucket=bucket, Key="big"),
        direct.head_object(Bucket=bucket, Key="big"),
    )
    for field in ("ETag", "ContentLength", "Metadata", "LastModified"):
        assert head_via[field] == head_direct[field]
    via.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"})
    listing = via.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == ["big", "copy"]
    with pytest.raises(ClientError) as excinfo:
        via.head_object(Bucket=bucket, Key="absent")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    via.delete_object(Bucket=bucket, Key="copy")
    assert [o["Key"] for o in direct.list_objects_v2(Bucket=bucket)["Contents"]] == ["big"]


def _raw_put(endpoint, seaweed, bucket, key, data, *, encoding):
    """PUT ``data`` with a body that is ``chunked`` (Transfer-Encoding) or ``aws-chunked``."""
    parts = urlsplit(endpoint)
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{seaweed.region}/s3/aws4_request"
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    headers = [("Host", f"{parts.hostname}:{parts.port}"), ("x-amz-date", amz_date)]
    if encoding == "chunked":
        payload_hash = hashlib.sha256(data).hexdigest()
        wire = framed + b"0\r\n\r\n"
        headers += [("x-amz-content-sha256", payload_hash), ("Transfer-Encoding", "chunked")]
    else:
        payload_hash = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        wire = framed + b"0\r\n" + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
        headers += [
            ("x-amz-content-sha256", payload_hash),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", str(len(data))),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("Content-Length", str(len(wire))),
        ]
    signed = sorted(k.lower() for k, _ in headers if k.lower() not in ("transfer-encoding", "content-length"))
    auth = sigv4_authorization(
        method="PUT",
        path=f"/{bucket}/{key}",
        query="",
        headers=headers,
        signed_headers=signed,
        credential_scope=scope,
        amz_date=amz_date,
        payload_hash=payload_hash,
        credentials=Credentials(seaweed.access_key, seaweed.secret_key),
    )
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("PUT", f"/{bucket}/{key}", skip_host=True, skip_accept_encoding=True)
        for name, value in [*headers, ("Authorization", auth)]:
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(wire)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("encoding", ["chunked", "aws-chunked"])
def test_passthrough_proxy_relays_chunked_bodies(seaweed, bucket, passthrough, encoding):
    data = bytes(range(256)) * 40 + b"tail"
    direct = _raw_put(seaweed.endpoint, seaweed, bucket, "direct", data, encoding=encoding)
    via = _raw_put(passthrough.url, seaweed, bucket, "via", data, encoding=encoding)
    assert direct[0] == via[0] == 200
    s3 = seaweed.client()
    assert _body(s3, bucket, "direct") == _body(s3, bucket, "via") == data
