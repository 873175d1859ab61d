"""Transports move protocol bytes; they know nothing of what the bytes mean.

:class:`HttpTransport` talks to the county server. A USB bundle is the other transport (see
the security docs); both carry the same messages.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from .engine.protocol import SCHEMA_VERSION
from .errors import Offline, SyncError


class Transport(Protocol):
    """What the sync client needs to reach a server."""

    def hello(self) -> dict[str, Any]: ...

    def push(self, body: bytes) -> bytes: ...

    def pull(self, after: int, limit: int) -> bytes: ...


class HttpTransport:
    """HTTP(S) to ``base_url`` with a device bearer token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "X-Cunsync-Schema": str(SCHEMA_VERSION), **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            raise _refusal(err) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            raise Offline(f"无法连接服务器，记录已保存在本设备，待有网络时再同步（{err}）") from None

    def hello(self) -> dict[str, Any]:
        body, _ = self._request("GET", "/api/v1/sync/hello")
        return dict(json.loads(body))

    def push(self, body: bytes) -> bytes:
        data, _ = self._request("POST", "/api/v1/sync/push", body, {
            "Content-Type": "application/json", "Content-Encoding": "gzip"})
        return data

    def pull(self, after: int, limit: int) -> bytes:
        query = urllib.parse.urlencode({"after": after, "limit": limit})
        data, _ = self._request("GET", f"/api/v1/sync/pull?{query}",
                                headers={"Accept-Encoding": "gzip"})
        return data


def _refusal(err: urllib.error.HTTPError) -> SyncError:
    try:
        payload = json.loads(err.read())["error"]
        return SyncError(payload["message"], code=payload["code"], status=err.code,
                         details=payload.get("details"))
    except (ValueError, KeyError, TypeError, OSError):
        return SyncError(f"服务器返回错误 {err.code}", code="http_error", status=err.code)
