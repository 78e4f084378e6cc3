"""One virtual user's connection in each mode, over the shard's aiohttp session.

* ``SingleExchange`` (2026-07-28): every POST stands alone; the envelope rides in
  ``params._meta`` and the routing headers repeat it.
* ``Handshake``: ``initialize`` + ``notifications/initialized`` once, then every POST names the
  ``Mcp-Session-Id`` at the negotiated revision; ``DELETE`` at the end.
* ``LegacySSE`` (2024-11-05): ``GET /sse``, the ``endpoint`` event, POSTs to
  ``/messages/?session_id=…``; answers come back on the stream and are matched by id.

``call(method, params)`` returns the JSON-RPC result or raises ``Failure`` with the error kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from omni.loadtest.generator import protocol
from omni.loadtest.generator.protocol import Failure

CLEANUP_TIMEOUT_S = 2.0


def failure_of(exc: BaseException) -> Failure:
    """The error kind of an exception raised while sending a request or reading its answer."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Failure("timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure("connect", str(exc)[:200])
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return Failure("disconnect", str(exc)[:200])
    if isinstance(exc, ConnectionError):
        return Failure("disconnect", str(exc)[:200])
    return Failure("protocol", repr(exc)[:200])


class Signer:
    """Signs requests like the gateway's downstream client (``omni.gateway.signing.sign``)."""

    def __init__(self, secret: bytes, key_id: str) -> None:
        self.secret, self.key_id = secret, key_id

    def header(self, method: str, url: str, body: bytes) -> dict[str, str]:
        from omni.gateway.signing import HEADER, org_of_body, sign

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return {HEADER: sign(self.secret, self.key_id, method, path, body, org_of_body(body))}


class Channel:
    """A virtual user's connection: ``open()``, ``call()`` any number of times, ``close()``."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        *,
        timeout_s: float,
        meta: dict[str, Any] | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.http = http
        self.url = url
        self.base_headers = {"Accept": protocol.ACCEPT, "Content-Type": "application/json", **headers}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.timeout_s = timeout_s
        self.meta = meta or None
        self.signer = signer
        self.ids = itertools.count(1)
        self.opened = False

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], request_id: int | None
    ) -> tuple[aiohttp.ClientResponse, dict[str, Any] | None]:
        """POST ``body``; the response and (for a request) its JSON-RPC answer message."""
        if self.signer is not None:
            headers = {**headers, **self.signer.header("POST", url, body)}
        async with self.http.post(url, data=body, headers=headers, timeout=self.timeout) as response:
            payload = await response.read()
            if request_id is None:
                if response.status not in (200, 202, 204):
                    raise Failure(f"http_{response.status}")
                return response, None
            if response.status != 200:
                raise Failure(f"http_{response.status}")
            message = protocol.decode_answer(response.headers.get("Content-Type", ""), payload, request_id)
            return response, message

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class SingleExchange(Channel):
    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        params = protocol.with_meta(params, self.meta, modern=True)
        request_id = next(self.ids)
        body = protocol.request_body(request_id, method, params)
        headers = {**self.base_headers, **protocol.modern_headers(method, params)}
        _, message = await self._post(self.url, body, headers, request_id)
        return protocol.check_message(message)


class Handshake(Channel):
    def __init__(self, *args: Any, revision: str = protocol.DEFAULT_REVISION, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.revision = revision
        self.session_id: str | None = None
        self.headers = dict(self.base_headers)

    async def open(self) -> None:
        request_id = next(self.ids)
        params = protocol.with_meta(protocol.initialize_params(self.revision), self.meta, modern=False)
        body = protocol.request_body(request_id, "initialize", params)
        response, message = await self._post(self.url, body, self.base_headers, request_id)
        result = protocol.check_message(message)
        session_id = response.headers.get("Mcp-Session-Id")
        negotiated = result.get("protocolVersion")
        if not session_id or not isinstance(negotiated, str):
            raise Failure("protocol", "initialize answered without a session id or protocol version")
        self.session_id = session_id
        self.headers = {**self.base_headers, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": negotiated}
        note = protocol.notification_body(
            "notifications/initialized", protocol.with_meta({}, self.meta, False)
        )
        await self._post(self.url, note, self.headers, None)
        self.opened = True

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        params = protocol.with_meta(params, self.meta, modern=False)
        request_id = next(self.ids)
        body = protocol.request_body(request_id, method, params)
        try:
            _, message = await self._post(self.url, body, self.headers, request_id)
        except Failure as failure:
            if failure.kind == "http_404":  # the session is gone: the next request opens another
                self.session_id, self.opened = None, False
            raise
        return protocol.check_message(message)

    async def close(self) -> None:
        if self.session_id is None:
            return
        headers = dict(self.headers)
        if self.signer is not None:
            headers.update(self.signer.header("DELETE", self.url, b""))
        with contextlib.suppress(Exception):
            timeout = aiohttp.ClientTimeout(total=CLEANUP_TIMEOUT_S)
            async with self.http.delete(self.url, headers=headers, timeout=timeout) as response:
                await response.read()
        self.session_id = None
        self.opened = False


class LegacySSE(Channel):
    """HTTP+SSE: one GET stream per virtual user; POSTs answered on the stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[int, asyncio.Future] = {}
        self.endpoint: asyncio.Future | None = None
        self.reader: asyncio.Task | None = None
        self.stream: aiohttp.ClientResponse | None = None
        self.headers = {k: v for k, v in self.base_headers.items() if k.lower() != "accept"}
        self.headers["Accept"] = "application/json"

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.endpoint = loop.create_future()
        headers = {**self.base_headers, "Accept": "text/event-stream"}
        if self.signer is not None:
            headers.update(self.signer.header("GET", self.url, b""))
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout_s, sock_connect=self.timeout_s)
        response = await self.http.get(self.url, headers=headers, timeout=timeout)
        if response.status != 200:
            response.release()
            raise Failure(f"http_{response.status}")
        self.stream = response
        self.reader = asyncio.create_task(self._read(response))
        try:
            path = await asyncio.wait_for(asyncio.shield(self.endpoint), self.timeout_s)
        except BaseException:
            await self.close()
            raise
        self.post_url = urljoin(self.url, path)
        try:
            request_id = next(self.ids)
            params = protocol.with_meta(protocol.initialize_params(protocol.SSE_REVISION), self.meta, False)
            protocol.check_message(await self._exchange(request_id, "initialize", params))
            note = protocol.notification_body(
                "notifications/initialized", protocol.with_meta({}, self.meta, False)
            )
            await self._post(self.post_url, note, self.headers, None)
        except BaseException:
            await self.close()
            raise
        self.opened = True

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        event, data = "message", []
        error: Failure = Failure("disconnect", "the SSE stream ended")
        try:
            async for raw in response.content:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if data:
                        self._dispatch(event, "\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
        except asyncio.CancelledError:
            error = Failure("disconnect", "the SSE stream was closed")
            raise
        except Exception as exc:
            error = failure_of(exc)
        finally:
            for future in [*self.pending.values(), self.endpoint]:
                if future is not None and not future.done():
                    future.set_exception(error)
                    future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            self.pending.clear()

    def _dispatch(self, event: str, data: str) -> None:
        if event == "endpoint":
            if self.endpoint is not None and not self.endpoint.done():
                self.endpoint.set_result(data.strip())
            return
        try:
            message = protocol.loads(data)
        except ValueError:
            return
        if isinstance(message, dict):
            future = self.pending.pop(message.get("id"), None) if "id" in message else None
            if future is not None and not future.done():
                future.set_result(message)

    async def _exchange(self, request_id: int, method: str, params: dict[str, Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            body = protocol.request_body(request_id, method, params)
            await self._post(self.post_url, body, self.headers, None)
            return await asyncio.wait_for(future, self.timeout_s)
        finally:
            self.pending.pop(request_id, None)

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.reader is None or self.reader.done():
            await self.close()  # the next request opens another stream
            raise Failure("disconnect", "the SSE stream is closed")
        params = protocol.with_meta(params, self.meta, modern=False)
        return protocol.check_message(await self._exchange(next(self.ids), method, params))

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.reader, CLEANUP_TIMEOUT_S)
            self.reader = None
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        self.opened = False


def make_channel(
    mode: str,
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    *,
    timeout_s: float,
    revision: str | None = None,
    meta: dict[str, Any] | None = None,
    signer: Signer | None = None,
) -> Channel:
    kwargs: dict[str, Any] = {"timeout_s": timeout_s, "meta": meta, "signer": signer}
    if mode == protocol.MODERN:
        return SingleExchange(http, url, headers, **kwargs)
    if mode == "handshake":
        return Handshake(http, url, headers, revision=revision or protocol.DEFAULT_REVISION, **kwargs)
    if mode == "sse":
        return LegacySSE(http, url, headers, **kwargs)
    raise ValueError(f"unknown mode {mode!r}")
