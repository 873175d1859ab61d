"""Transports move protocol bytes; they know nothing of what the bytes mean.

:class:`HttpTransport` posts sealed envelopes to the county server. A USB bundle is the other
transport (:mod:`client_kit.bundle`); both carry the same messages.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any, Protocol

from .errors import Offline, SyncError

ENVELOPE = "application/x-cunsync-envelope"


class Transport(Protocol):
    """What the sync client needs to reach a server: send one envelope, get one back."""

    def exchange(self, purpose: str, envelope: bytes) -> bytes: ...


class HttpTransport:
    """HTTP(S) to ``base_url``."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _post(self, path: str, body: bytes, content_type: str) -> bytes:
        request = urllib.request.Request(self.base_url + path, data=body, method="POST",
                                         headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as err:
            raise _refusal(err) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            raise Offline(f"无法连接服务器，记录已保存在本设备，待有网络时再同步（{err}）") from None

    def exchange(self, purpose: str, envelope: bytes) -> bytes:
        return self._post(f"/api/v1/sync/{purpose}", envelope, ENVELOPE)

    def enrol(self, body: dict[str, Any]) -> dict[str, Any]:
        """Trade an enrolment code and public keys for this device's identity (plain JSON)."""
        answer = self._post("/api/v1/enrol", json.dumps(body).encode(), "application/json")
        return dict(json.loads(answer))


def _refusal(err: urllib.error.HTTPError) -> SyncError:
    try:
        payload = json.loads(err.read())["error"]
        return SyncError(payload["message"], code=payload["code"], status=err.code,
                         details=payload.get("details"))
    except (ValueError, KeyError, TypeError, OSError):
        return SyncError(f"服务器返回错误 {err.code}", code="http_error", status=err.code)
