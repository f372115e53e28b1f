"""An S3-compatible bucket as the registry's storage: whole objects, create-only and compare-and-swap.

The registry needs five things from a store, and S3 has had all of them since 2024:

* ``get``/``head``/``list``/``delete`` of whole objects under a prefix;
* ``create``: ``PUT`` with ``If-None-Match: *``, which fails (412) when the key exists, so exactly
  one of many racing writers creates it (version numbers, events, digest entries);
* ``replace``: ``PUT`` with ``If-Match: <etag>``, which fails (412) when the object changed since
  it was read (compare-and-swap of a model's mutable state);
* ``upload``/``download`` of large files in parallel parts.

Some stores accept the conditional headers and ignore them; ``probe_conditional_writes`` proves
the store enforces both before the first write, and finds out whether it wants the ETag in
``If-Match`` quoted (RFC 9110, AWS) or bare (Ceph RGW, which rejects the quoted form).

Endpoint, region and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``...), read by botocore itself; no
credential passes through modelpack's hands, so none can be printed or stored. boto3 is imported
only when an ``s3://`` home is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from modelpack.config import S3Home
from modelpack.contents import MAX_DOCUMENT_BYTES
from modelpack.errors import ConflictError, NotFoundError, RegistryError

#: Files up to this size go in one PUT; larger ones in parts of this size, in parallel.
PART_SIZE: Final = 8 * 1024 * 1024
#: Parallel connections for parts and for the files of one version.
WORKERS: Final = 8
#: If-Match forms: RFC 9110's quoted ETag, or the bare one Ceph RGW wants.
QUOTED: Final = "quoted"
BARE: Final = "bare"


@dataclass(frozen=True)
class Stored:
    """An object's bytes and the ETag they were read with (for a later compare-and-swap)."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    modified: float  # seconds since the epoch
    metadata: dict[str, str] | None = None


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_precondition_failed(exc: BaseException) -> bool:
    return _status(exc) == 412 or _code(exc) == "PreconditionFailed"


def _is_conflict_retry(exc: BaseException) -> bool:
    # S3 answers 409 ConditionalRequestConflict when two conditional writes race; try again.
    return _status(exc) == 409 or _code(exc) == "ConditionalRequestConflict"


def _is_missing(exc: BaseException) -> bool:
    return _status(exc) == 404 or _code(exc) in {"NoSuchKey", "404", "NotFound"}


class S3Objects:
    """The objects under one ``s3://bucket/prefix`` home; keys given to methods are relative."""

    def __init__(self, home: S3Home) -> None:
        self.home = home
        self.if_match_form = QUOTED
        #: Requests sent, for the benchmarks' requests-per-operation counts.
        self.requests = 0
        self._client: Any = None
        self._lock = threading.Lock()
        # Parts of every large file share one pool and one bound on bytes in memory, however
        # many files upload at once: at most WORKERS + 2 parts are read and not yet sent.
        self._parts: ThreadPoolExecutor | None = None
        self._in_flight = threading.BoundedSemaphore(WORKERS + 2)

    # ------------------------------------------------------------------ client and errors

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        try:
            # botocore alone: boto3's session adds nothing here but start-up time (~35 ms).
            import botocore.session
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 (and so botocore) is a dependency
            raise RegistryError("an s3:// registry needs boto3: pip install boto3") from exc
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=WORKERS * 4,
            connect_timeout=10,
            read_timeout=120,
            # Some stores reject the CRC checksums newer botocore adds by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            client = botocore.session.get_session().create_client("s3", config=config)
        except Exception as exc:  # botocore raises many kinds for a bad profile or region
            raise RegistryError(f"cannot set up the S3 client for {self.home}: {exc}") from exc

        def count(**_: Any) -> None:
            self.requests += 1

        client.meta.events.register("before-send.s3", count)
        return client

    def _error(self, exc: BaseException, doing: str) -> Exception:
        """One line for any failure talking to the store; never a credential or a traceback."""
        code = _code(exc)
        name = type(exc).__name__
        where = f"s3://{self.home.bucket}"
        if code == "NoSuchBucket":
            return NotFoundError(
                f"bucket {self.home.bucket!r} does not exist at the S3 endpoint",
                hint="create the bucket first; modelpack never creates buckets",
            )
        if name == "NoCredentialsError" or code in {"InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return RegistryError(
                f"cannot {doing}: the S3 credentials were refused or are missing ({code or name})",
                hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            )
        if code in {"AccessDenied", "403"} or _status(exc) == 403:
            return RegistryError(f"cannot {doing}: access to {where} denied", hint="check the bucket policy")
        if name in {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
        }:
            endpoint = getattr(self._client, "meta", None)
            url = endpoint.endpoint_url if endpoint is not None else "the S3 endpoint"
            return RegistryError(
                f"cannot {doing}: no answer from {url}",
                hint="check AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) and the network",
            )
        detail = code or name
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")) or str(exc)
        return RegistryError(f"cannot {doing} in {where}: {detail}: {message.splitlines()[0][:200]}")

    def _call(self, doing: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.home.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, doing) from exc

    def key(self, relative: str) -> str:
        return self.home.key(relative)

    # ------------------------------------------------------------------ whole objects

    def get(self, relative: str) -> Stored | None:
        """A metadata object's bytes and ETag, or None if there is none.

        Raises:
            RegistryError: the object is larger than any registry document can be.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.home.bucket, Key=self.key(relative))
            if int(response.get("ContentLength", 0)) > MAX_DOCUMENT_BYTES:
                response["Body"].close()
                raise RegistryError(
                    f"{self.home.key(relative)} in s3://{self.home.bucket} is larger than a registry "
                    "document can be",
                    hint="run 'modelpack doctor'",
                )
            return Stored(response["Body"].read(), response["ETag"])
        except ClientError as exc:
            if _is_missing(exc) and _code(exc) != "NoSuchBucket":
                return None
            raise self._error(exc, f"read {relative}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"read {relative}") from exc

    def head(self, relative: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.head_object(Bucket=self.home.bucket, Key=self.key(relative))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise self._error(exc, f"read {relative}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"read {relative}") from exc
        return ObjectInfo(
            relative,
            int(response["ContentLength"]),
            response["ETag"],
            response["LastModified"].timestamp(),
            dict(response.get("Metadata") or {}),
        )

    def create(self, relative: str, data: bytes, *, metadata: dict[str, str] | None = None) -> str | None:
        """Create the object unless the key exists (``If-None-Match: *``): its ETag, or None."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"Metadata": metadata} if metadata else {}
        for attempt in range(8):
            try:
                response = self.client.put_object(
                    Bucket=self.home.bucket, Key=self.key(relative), Body=data, IfNoneMatch="*", **extra
                )
                return str(response["ETag"])
            except ClientError as exc:
                if _is_precondition_failed(exc):
                    return None
                if _is_conflict_retry(exc):
                    backoff(attempt)
                    continue
                raise self._error(exc, f"write {relative}") from exc
            except BotoCoreError as exc:
                raise self._error(exc, f"write {relative}") from exc
        raise ConflictError(f"the store kept answering 409 to creating {relative}; try again")

    def replace(self, relative: str, data: bytes, etag: str) -> str | None:
        """Overwrite the object only if its ETag is still ``etag``: the new ETag, or None."""
        from botocore.exceptions import BotoCoreError, ClientError

        condition = etag if self.if_match_form == QUOTED else etag.strip('"')
        try:
            response = self.client.put_object(
                Bucket=self.home.bucket, Key=self.key(relative), Body=data, IfMatch=condition
            )
            return str(response["ETag"])
        except ClientError as exc:
            if _is_precondition_failed(exc) or _is_conflict_retry(exc) or _is_missing(exc):
                return None
            raise self._error(exc, f"write {relative}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"write {relative}") from exc

    def put(self, relative: str, data: bytes) -> None:
        """An unconditional write (scratch keys only)."""
        self._call(f"write {relative}", self.client.put_object, Key=self.key(relative), Body=data)

    def delete(self, relative: str) -> None:
        self._call(f"delete {relative}", self.client.delete_object, Key=self.key(relative))

    def list(self, relative_prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``relative_prefix``, in key order, page by page."""
        base = self.key("")
        kwargs: dict[str, Any] = {"Prefix": self.key(relative_prefix)}
        if start_after is not None:
            kwargs["StartAfter"] = self.key(start_after)
        while True:
            page = self._call(f"list {relative_prefix}", self.client.list_objects_v2, **kwargs)
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    item["Key"][len(base) :],
                    int(item["Size"]),
                    item.get("ETag", ""),
                    item["LastModified"].timestamp(),
                )
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def hash_object(self, relative: str, *, chunk: int = 1024 * 1024) -> tuple[str, int] | None:
        """Stream the object once, hashing it: its sha256 and size, or None if there is none."""
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256()
        size = 0
        try:
            body = self.client.get_object(Bucket=self.home.bucket, Key=self.key(relative))["Body"]
            for block in iter(lambda: body.read(chunk), b""):
                digest.update(block)
                size += len(block)
        except ClientError as exc:
            if _is_missing(exc) and _code(exc) != "NoSuchBucket":
                return None
            raise self._error(exc, f"read {relative}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"read {relative}") from exc
        return digest.hexdigest(), size

    def touch(self, relative: str, metadata: dict[str, str]) -> bool:
        """Refresh the object's LastModified with a server-side copy onto itself.

        Returns:
            False if the object is gone (the caller uploads it again).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(relative)
        try:
            self.client.copy_object(
                Bucket=self.home.bucket,
                Key=key,
                CopySource={"Bucket": self.home.bucket, "Key": key},
                Metadata=metadata,
                MetadataDirective="REPLACE",
            )
        except ClientError as exc:
            if _is_missing(exc) and _code(exc) != "NoSuchBucket":
                return False
            raise self._error(exc, f"refresh {relative}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"refresh {relative}") from exc
        return True

    def list_uploads(self, relative_prefix: str) -> Iterator[tuple[str, str, float]]:
        """Multipart uploads begun under ``relative_prefix`` and never completed nor aborted:
        (relative key, upload id, seconds since the epoch it was begun)."""
        base = self.key("")
        kwargs: dict[str, Any] = {"Prefix": self.key(relative_prefix)}
        while True:
            page = self._call("list multipart uploads", self.client.list_multipart_uploads, **kwargs)
            for item in page.get("Uploads", []) or []:
                yield item["Key"][len(base) :], item["UploadId"], item["Initiated"].timestamp()
            if not page.get("IsTruncated"):
                return
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def abort_upload(self, relative: str, upload_id: str) -> None:
        self._call(
            f"abort the upload of {relative}",
            self.client.abort_multipart_upload,
            Key=self.key(relative),
            UploadId=upload_id,
        )

    def list_folders(self, relative_prefix: str) -> Iterator[str]:
        """The names one level below ``relative_prefix`` (S3's common prefixes, ``/``-delimited)."""
        prefix = self.key(relative_prefix)
        kwargs: dict[str, Any] = {"Prefix": prefix, "Delimiter": "/"}
        while True:
            page = self._call(f"list {relative_prefix}", self.client.list_objects_v2, **kwargs)
            for item in page.get("CommonPrefixes", []):
                yield item["Prefix"][len(prefix) :].rstrip("/")
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    # ------------------------------------------------------------------ the store's honesty

    def probe_conditional_writes(self) -> dict[str, str]:
        """Prove the store enforces ``If-None-Match: *`` and ``If-Match`` on a scratch key.

        Returns:
            What was learnt, recorded in ``registry.json``: the ``If-Match`` form the store takes.

        Raises:
            RegistryError: the store ignores a condition (it would let writers overwrite each
                other), naming what it did.
        """
        scratch = f".probe/{uuid.uuid4().hex}"
        endpoint = self.client.meta.endpoint_url
        refuse = "modelpack refuses to keep a registry there: concurrent writers would overwrite each other"
        try:
            first = self.create(scratch, b"1")
            if first is None:
                raise RegistryError(f"the store at {endpoint} refused to create a new object {scratch}")
            if self.create(scratch, b"2") is not None:
                raise RegistryError(
                    f"the store at {endpoint} ignores If-None-Match: a second create-only PUT of "
                    f"one key succeeded; {refuse}",
                    hint="use a store with conditional writes (AWS S3, SeaweedFS, MinIO, Ceph RGW, GCS)",
                )
            second = self.replace(scratch, b"3", first)
            if second is None:
                # Ceph RGW compares If-Match with the bare ETag; the quoted form never matches.
                self.if_match_form = BARE
                second = self.replace(scratch, b"3", first)
                if second is None:
                    self.if_match_form = QUOTED
                    raise RegistryError(
                        f"the store at {endpoint} refused a compare-and-swap (If-Match) with the "
                        f"object's current ETag, quoted or bare; {refuse}"
                    )
            if self.replace(scratch, b"4", first) is not None:
                raise RegistryError(
                    f"the store at {endpoint} ignores If-Match: a compare-and-swap with a stale "
                    f"ETag succeeded; {refuse}",
                    hint="use a store with conditional writes (AWS S3, SeaweedFS, MinIO, Ceph RGW, GCS)",
                )
        finally:
            with contextlib.suppress(RegistryError, NotFoundError):
                self.delete(scratch)
        return {"if_match": self.if_match_form}

    # ------------------------------------------------------------------ large files

    def upload(
        self,
        relative: str,
        path: Path,
        expected_sha256: str,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> str:
        """Store a file's bytes under ``relative`` if they hash to ``expected_sha256``.

        Small files are read, hashed and sent in one create-only PUT. Large ones are sent as a
        multipart upload in parallel parts while being hashed in order; the upload is completed
        only when the hash matches, so a blob key never holds other bytes than its name says.

        Returns:
            The sha256 actually read (the caller reports a mismatch; nothing was stored then).
        """
        size = path.stat().st_size
        if size <= PART_SIZE:
            data = path.read_bytes()
            actual = hashlib.sha256(data).hexdigest()
            if actual == expected_sha256:
                self.create(relative, data, metadata={"sha256": actual})
            if progress is not None:
                progress(len(data))
            return actual
        return self._multipart(relative, path, expected_sha256, progress)

    def _multipart(
        self, relative: str, path: Path, expected: str, progress: Callable[[int], None] | None
    ) -> str:
        key = self.key(relative)
        started = self._call(
            f"upload {relative}",
            self.client.create_multipart_upload,
            Key=key,
            Metadata={"sha256": expected},
        )
        upload_id = started["UploadId"]
        digest = hashlib.sha256()
        parts: list[dict[str, Any]] = []
        completed = False
        try:
            pool = self._part_pool()
            futures = []
            with path.open("rb") as fh:
                number = 0
                while True:
                    self._in_flight.acquire()
                    chunk = fh.read(PART_SIZE)
                    if not chunk:
                        self._in_flight.release()
                        break
                    number += 1
                    digest.update(chunk)
                    futures.append(pool.submit(self._part, key, upload_id, number, chunk, progress))
            parts = [f.result() for f in futures]
            actual = digest.hexdigest()
            if actual != expected:
                return actual
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self.client.complete_multipart_upload(
                    Bucket=self.home.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                )
                completed = True
            except ClientError as exc:
                if not _is_precondition_failed(exc):
                    raise self._error(exc, f"upload {relative}") from exc
            except BotoCoreError as exc:
                raise self._error(exc, f"upload {relative}") from exc
            return actual
        finally:
            if not completed:
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(Bucket=self.home.bucket, Key=key, UploadId=upload_id)

    def _part_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._parts is None:
                self._parts = ThreadPoolExecutor(WORKERS, thread_name_prefix="modelpack-part")
            return self._parts

    def _part(
        self,
        key: str,
        upload_id: str,
        number: int,
        chunk: bytes,
        progress: Callable[[int], None] | None,
    ) -> dict[str, Any]:
        try:
            response = self._call(
                "upload a part",
                self.client.upload_part,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=chunk,
            )
        finally:
            self._in_flight.release()
        if progress is not None:
            progress(len(chunk))
        return {"PartNumber": number, "ETag": response["ETag"]}

    def download(
        self, relative: str, dest: Path, size: int, *, progress: Callable[[int], None] | None = None
    ) -> None:
        """Write the object to ``dest`` (created new), in parallel ranges when it is large."""
        key = self.key(relative)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(dest, flags, 0o644)
        try:
            if size <= PART_SIZE:
                response = self._call(f"read {relative}", self.client.get_object, Key=key)
                self._stream_to(fd, response["Body"], 0, progress)
            else:
                ranges = [(start, min(start + PART_SIZE, size) - 1) for start in range(0, size, PART_SIZE)]
                with ThreadPoolExecutor(WORKERS) as pool:
                    for future in [pool.submit(self._range, key, fd, r, progress) for r in ranges]:
                        future.result()
        finally:
            os.close(fd)

    def _range(
        self, key: str, fd: int, span: tuple[int, int], progress: Callable[[int], None] | None
    ) -> None:
        response = self._call(
            "read a part", self.client.get_object, Key=key, Range=f"bytes={span[0]}-{span[1]}"
        )
        self._stream_to(fd, response["Body"], span[0], progress)

    @staticmethod
    def _stream_to(fd: int, body: Any, offset: int, progress: Callable[[int], None] | None) -> None:
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fd, view, offset)
                offset += written
                view = view[written:]
            if progress is not None:
                progress(len(chunk))


def backoff(attempt: int, *, base: float = 0.02, cap: float = 1.0) -> None:
    """Sleep before retrying a lost race: exponential with full jitter, so racers spread out."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))
