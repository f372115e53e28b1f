"""A reverse proxy in front of an S3 gateway that can make the store ignore conditional writes.

Some S3 emulators accept ``If-None-Match: *`` and ``If-Match`` on PUT and silently ignore them, so
two "create-only" writes both succeed. ``S3Proxy(..., strip_conditions=True)`` turns a real store
into such a store, so tests can show what modelpack does on one (detect it, refuse, or stay
correct). ``strip_conditions=False`` rewrites nothing, which proves the proxy itself is transparent.

Stripping a header is not enough on its own: botocore signs every request header it sends
(``SignedHeaders=host;if-none-match;...``), so a request with ``If-None-Match`` removed no longer
matches its signature. When the header it removes was signed, the proxy signs the request again
(AWS Signature Version 4, same date, scope and payload hash, the remaining signed headers) with
the credentials it was given: the test's own, the same the client used. Everything else is
forwarded byte for byte: the request line, the other headers in order (including ``Host``, which
the signature covers), and the body, whether sized by ``Content-Length`` or sent with
``Transfer-Encoding: chunked`` (relayed chunk by chunk, framing included); an ``aws-chunked``
body is just a body here. Responses stream back as they arrive; ``HEAD`` gets headers only.

Only ``Expect`` and the hop-by-hop connection headers are not forwarded (this proxy answers
``100 Continue`` itself); none of them is ever signed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

CONDITION_HEADERS = frozenset({"if-none-match", "if-match"})
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "proxy-connection", "expect", "upgrade", "te"})
_NO_RESPONSE_BODY = frozenset({204, 304})
_PIECE = 64 * 1024


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def sigv4_authorization(
    *,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    signed_headers: list[str],
    credential_scope: str,
    amz_date: str,
    payload_hash: str,
    credentials: Credentials,
) -> str:
    """The ``Authorization`` value AWS SigV4 gives this request (S3 rules: the path as sent)."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    canonical_headers = "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed_headers)
    pairs = []
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    canonical_request = "\n".join(
        [method, path, canonical_query, canonical_headers, ";".join(signed_headers), payload_hash]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            credential_scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = ("AWS4" + credentials.secret_key).encode()
    for scope_part in credential_scope.split("/"):  # date, region, service, "aws4_request"
        signing_key = hmac.new(signing_key, scope_part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{credential_scope}, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )


def _parse_authorization(value: str) -> dict[str, str] | None:
    if not value.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 ") :].split(","):
        key, _, val = part.strip().partition("=")
        fields[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


class S3Proxy:
    """A threaded proxy on 127.0.0.1 in front of ``upstream`` (``http://host:port``).

    Args:
        upstream: the S3 gateway's URL.
        strip_conditions: remove ``If-None-Match`` and ``If-Match`` from every request.
        refuse_quoted_if_match: answer 412 to an ``If-Match`` holding a quoted ETag, forward a
            bare one: Ceph RGW's behaviour.
        credentials: used to sign again a request whose removed header was signed.

    ``url`` is the proxy's endpoint; ``stripped`` counts the requests it changed. Use it as a
    context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        upstream: str,
        *,
        strip_conditions: bool,
        credentials: Credentials | None = None,
        refuse_quoted_if_match: bool = False,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.strip_conditions = strip_conditions
        self.credentials = credentials
        # Ceph RGW's quirk: an RFC-quoted ETag in If-Match never matches (412); the bare one does.
        self.refuse_quoted_if_match = refuse_quoted_if_match
        self.stripped = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> S3Proxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> S3Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rewrite(self, method: str, target: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The headers to forward for this request (possibly stripped and signed again)."""
        forwarded = [(k, v) for k, v in headers if k.lower() not in _NOT_FORWARDED]
        if not self.strip_conditions:
            return forwarded
        removed = {k.lower() for k, _ in forwarded if k.lower() in CONDITION_HEADERS}
        if not removed:
            return forwarded
        forwarded = [(k, v) for k, v in forwarded if k.lower() not in removed]
        with self._lock:
            self.stripped += 1
        auth_at = next((i for i, (k, _) in enumerate(forwarded) if k.lower() == "authorization"), None)
        if auth_at is None:
            return forwarded
        fields = _parse_authorization(forwarded[auth_at][1])
        if fields is None:
            raise _ProxyRefusal(f"cannot re-sign a request authorized as {forwarded[auth_at][1][:20]!r}")
        signed = fields["SignedHeaders"].split(";")
        if not removed & set(signed):
            return forwarded
        if self.credentials is None:
            raise _ProxyRefusal("a signed condition header was removed and the proxy has no credentials")
        values = {k.lower(): v for k, v in forwarded}
        payload_hash = values.get("x-amz-content-sha256", "")
        if payload_hash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" or not payload_hash:
            # Signed chunks chain from the seed signature; re-signing them is not done here.
            raise _ProxyRefusal(f"cannot re-sign a request with payload hash {payload_hash!r}")
        access_key, _, scope = fields["Credential"].partition("/")
        if access_key != self.credentials.access_key:
            raise _ProxyRefusal(f"request signed by {access_key!r}, the proxy holds another key")
        path, _, query = target.partition("?")
        forwarded[auth_at] = (
            forwarded[auth_at][0],
            sigv4_authorization(
                method=method,
                path=path,
                query=query,
                headers=forwarded,
                signed_headers=[h for h in signed if h not in removed],
                credential_scope=scope,
                amz_date=values.get("x-amz-date", ""),
                payload_hash=payload_hash,
                credentials=self.credentials,
            ),
        )
        return forwarded


class _ProxyRefusal(Exception):
    pass


def _handler_for(proxy: S3Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and 100 Continue for clients that ask

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: pytest shows failures, not every request

        def _relay(self) -> None:
            raw_headers = list(self.headers.items())
            if proxy.refuse_quoted_if_match and '"' in (self.headers.get("If-Match") or ""):
                self._drain_body()
                self._plain_error(412, "PreconditionFailed: quoted ETag in If-Match (RGW quirk)")
                return
            try:
                headers = proxy.rewrite(self.command, self.path, raw_headers)
            except _ProxyRefusal as refusal:
                self._drain_body()
                self._plain_error(501, str(refusal))
                return
            upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    upstream.putheader(name, value)
                upstream.endheaders()
                self._forward_body(upstream)
                response = upstream.getresponse()
                self._send_response(response)
            finally:
                upstream.close()

        def _body_kind(self) -> tuple[str, int]:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return "chunked", 0
            return "sized", int(self.headers.get("Content-Length") or 0)

        def _drain_body(self) -> None:
            self._forward_body(None)

        def _forward_body(self, upstream: http.client.HTTPConnection | None) -> None:
            def send(data: bytes) -> None:
                if upstream is not None:
                    upstream.send(data)

            kind, length = self._body_kind()
            if kind == "sized":
                while length > 0:
                    piece = self.rfile.read(min(length, _PIECE))
                    if not piece:
                        raise ConnectionError("client closed the connection mid-body")
                    send(piece)
                    length -= len(piece)
                return
            # Chunked: relay the framing as it comes (size lines, data, trailers).
            while True:
                line = self.rfile.readline(65537)
                send(line)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        trailer = self.rfile.readline(65537)
                        send(trailer)
                        if trailer in (b"\r\n", b"\n", b""):
                            return
                remaining = size + 2  # the data and its CRLF
                while remaining > 0:
                    piece = self.rfile.read(min(remaining, _PIECE))
                    if not piece:
                        raise ConnectionError("client closed the connection mid-chunk")
                    send(piece)
                    remaining -= len(piece)

        def _send_response(self, response: http.client.HTTPResponse) -> None:
            self.send_response_only(response.status, response.reason)
            upstream_chunked = False
            for name, value in response.getheaders():
                lower = name.lower()
                if lower == "transfer-encoding":
                    upstream_chunked = "chunked" in value.lower()
                    continue
                if lower in ("connection", "keep-alive"):
                    continue
                self.send_header(name, value)
            no_body = self.command == "HEAD" or response.status in _NO_RESPONSE_BODY
            rechunk = upstream_chunked and not no_body
            if rechunk:
                self.send_header("Transfer-Encoding", "chunked")
            elif response.getheader("Content-Length") is None and not no_body:
                self.send_header("Connection", "close")  # body ends when the connection does
                self.close_connection = True
            self.end_headers()
            if no_body:
                return
            while True:
                piece = response.read1(_PIECE) if rechunk else response.read(_PIECE)
                if not piece:
                    break
                if rechunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
            if rechunk:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _plain_error(self, status: int, message: str) -> None:
            body = message.encode()
            self.send_response_only(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _relay

    return Handler
