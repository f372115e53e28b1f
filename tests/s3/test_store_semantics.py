"""What the S3 store under the tests guarantees: SeaweedFS 4.48 (``weed mini``) through boto3.

These pin the behaviour a registry on S3 builds on (create-only and compare-and-swap writes,
ETags, metadata, listing) so a SeaweedFS upgrade that changes any of it fails here first, with
a name, rather than somewhere inside a registry test. Where SeaweedFS differs from AWS S3 the
test says so.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.s3


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _body(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def bucket(seaweed):
    name = f"sem-{uuid.uuid4().hex[:20]}"
    seaweed.make_bucket(name)
    return name


def test_create_only_put_twice_fails_412_and_keeps_the_first(seaweed, bucket):
    s3 = seaweed.client()
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert _error(excinfo) == (412, "PreconditionFailed")
    assert _body(s3, bucket, "k") == b"first"


def test_if_match_replaces_only_the_version_it_names(seaweed, bucket):
    s3 = seaweed.client()
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=first)["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=first)  # stale
    assert _error(excinfo) == (412, "PreconditionFailed")
    assert _body(s3, bucket, "k") == b"v2"
    assert second != first


def test_etags_are_quoted_and_if_match_takes_either_form(seaweed, bucket):
    s3 = seaweed.client()
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    etag = put["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34  # quoted MD5 hex
    assert put["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    assert s3.head_object(Bucket=bucket, Key="k")["ETag"] == etag
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["ETag"] == etag
    unquoted = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag.strip('"'))["ETag"]
    assert _body(s3, bucket, "k") == b"v2"
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=unquoted)
    assert _body(s3, bucket, "k") == b"v3"


def test_if_match_on_a_missing_key_fails_412(seaweed, bucket):
    # AWS S3 answers 404 NoSuchKey here; SeaweedFS 4.48 answers 412. Treat both as "lost".
    with pytest.raises(ClientError) as excinfo:
        seaweed.client().put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch='"' + "0" * 32 + '"')
    assert _error(excinfo) == (412, "PreconditionFailed")


def test_if_none_match_with_an_etag_is_ignored_on_put(seaweed, bucket):
    # Only "*" means something on a write; SeaweedFS ignores any other value (the PUT succeeds).
    s3 = seaweed.client()
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfNoneMatch='"' + "0" * 32 + '"')
    assert _body(s3, bucket, "k") == b"v2"


def _multipart(s3, bucket: str, key: str, data: bytes, **complete):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=data)
    parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}
    try:
        return s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload=parts, **complete
        )
    except ClientError:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise


def test_complete_multipart_upload_honours_if_none_match(seaweed, bucket):
    s3 = seaweed.client()
    done = _multipart(s3, bucket, "k", b"a" * 100, IfNoneMatch="*")
    assert done["ETag"].endswith('-1"')  # a multipart ETag: quoted, "-<parts>"
    with pytest.raises(ClientError) as excinfo:
        _multipart(s3, bucket, "k", b"b" * 100, IfNoneMatch="*")
    assert _error(excinfo) == (412, "PreconditionFailed")
    assert _body(s3, bucket, "k") == b"a" * 100


def test_user_metadata_round_trips_with_lowercased_keys(seaweed, bucket):
    s3 = seaweed.client()
    meta = {"sha256": "ab" * 32, "Mixed-Case": "a value, with spaces"}
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata=meta, IfNoneMatch="*")
    expected = {"sha256": "ab" * 32, "mixed-case": "a value, with spaces"}
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == expected
    assert s3.get_object(Bucket=bucket, Key="k")["Metadata"] == expected


def test_copy_object_copies_body_and_metadata_and_honours_if_none_match(seaweed, bucket):
    s3 = seaweed.client()
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"kind": "model"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["Metadata"], _body(s3, bucket, "dst")) == ({"kind": "model"}, b"payload")
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*")
    assert _error(excinfo) == (412, "PreconditionFailed")


def test_list_objects_v2_pages_with_tokens_and_start_after(seaweed, bucket):
    s3 = seaweed.client()
    keys = [f"reg/v/{i:03d}" for i in range(7)]
    for key in [*keys, "reg/other", "top"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")

    def page(**kw):
        answer = s3.list_objects_v2(Bucket=bucket, Prefix="reg/v/", **kw)
        return [o["Key"] for o in answer.get("Contents", [])], answer

    first, answer = page(MaxKeys=3)
    assert first == keys[:3] and answer["IsTruncated"] is True
    second, answer = page(MaxKeys=3, ContinuationToken=answer["NextContinuationToken"])
    assert second == keys[3:6] and answer["IsTruncated"] is True
    third, answer = page(MaxKeys=3, ContinuationToken=answer["NextContinuationToken"])
    assert third == keys[6:] and answer["IsTruncated"] is False

    assert page(StartAfter="reg/v/003")[0] == keys[4:]
    after, answer = page(StartAfter="reg/v/003", MaxKeys=2)
    assert after == keys[4:6] and answer["IsTruncated"] is True
    assert page(StartAfter="reg/v/0035")[0] == keys[4:]  # need not be an existing key
    assert page(StartAfter="reg/v/999")[0] == []

    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["reg/"]
    assert [o["Key"] for o in top["Contents"]] == ["top"]


def test_missing_keys(seaweed, bucket):
    s3 = seaweed.client()
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key="absent")
    assert _error(excinfo)[0] == 404
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="absent")
    assert _error(excinfo) == (404, "NoSuchKey")
    assert s3.delete_object(Bucket=bucket, Key="absent")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_two_gateways_share_one_namespace(seaweed, bucket):
    assert len(seaweed.endpoints) == 2
    one, two = (seaweed.client(e) for e in seaweed.endpoints)
    one.put_object(Bucket=bucket, Key="k", Body=b"from one", IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        two.put_object(Bucket=bucket, Key="k", Body=b"from two", IfNoneMatch="*")
    assert _error(excinfo) == (412, "PreconditionFailed")
    assert _body(two, bucket, "k") == b"from one"  # read-after-write across gateways
    etag = two.head_object(Bucket=bucket, Key="k")["ETag"]
    two.put_object(Bucket=bucket, Key="k", Body=b"swapped by two", IfMatch=etag)
    with pytest.raises(ClientError) as excinfo:
        one.put_object(Bucket=bucket, Key="k", Body=b"stale one", IfMatch=etag)
    assert _error(excinfo) == (412, "PreconditionFailed")
    assert _body(one, bucket, "k") == b"swapped by two"


def _race(clients, attempt) -> list[int]:
    """Run ``attempt(client, i)`` in one thread per client, all released at once; the winners.

    SeaweedFS serialises contended conditional writes on a lock it retries once a second: a
    loser can take a few seconds to get its 412, which is why these races are small.
    """
    barrier = threading.Barrier(len(clients))
    winners: list[int] = []
    errors: list[tuple[int, str]] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            attempt(clients[i], i)
            winners.append(i)
        except ClientError as exc:
            errors.append((exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(errors) <= {(412, "PreconditionFailed")}
    return winners


@pytest.mark.parametrize("round_", range(2))
def test_concurrent_create_only_puts_through_both_gateways_have_one_winner(seaweed, bucket, round_):
    clients = [seaweed.client(seaweed.endpoints[i % 2]) for i in range(4)]

    def attempt(s3, i):
        s3.put_object(Bucket=bucket, Key="k", Body=f"writer {i}".encode(), IfNoneMatch="*")

    winners = _race(clients, attempt)
    assert len(winners) == 1
    assert _body(clients[0], bucket, "k") == f"writer {winners[0]}".encode()


@pytest.mark.parametrize("round_", range(2))
def test_concurrent_if_match_puts_through_both_gateways_have_one_winner(seaweed, bucket, round_):
    clients = [seaweed.client(seaweed.endpoints[i % 2]) for i in range(4)]
    base = clients[0].put_object(Bucket=bucket, Key="k", Body=b"base")["ETag"]

    def attempt(s3, i):
        s3.put_object(Bucket=bucket, Key="k", Body=f"writer {i}".encode(), IfMatch=base)

    winners = _race(clients, attempt)
    assert len(winners) == 1
    assert _body(clients[1], bucket, "k") == f"writer {winners[0]}".encode()


def test_the_store_verifies_signatures(seaweed, bucket):
    # Why the stripping proxy (tests/s3proxy.py) must sign again what it changes.
    wrong = seaweed.client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as excinfo:
        wrong.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert _error(excinfo) == (403, "SignatureDoesNotMatch")
