"""Who is asking, and may they: API keys from the request, the loopback rule, and scope checks.

A request carries its key as ``Authorization: Bearer KEY`` (what OpenAI clients send) or ``X-API-Key: KEY``.
Without a key only loopback clients are served, as the local user (:data:`~kenning.serve.keys.LOCAL`) — unless the
server was started with ``--require-keys`` (put it behind a proxy only that way: a proxy makes every client look
local). A wrong key is refused even from loopback.
"""

from __future__ import annotations

import ipaddress

from fastapi import HTTPException, Request

from .keys import LOCAL, ApiKey, KeyStore

__all__ = ["caller", "require", "is_loopback"]


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def caller(request: Request) -> ApiKey:
    """The key this request acts as; 401 when it has none it may use."""
    keys: KeyStore = request.app.state.keys
    secret = _secret(request)
    if secret is None:
        if request.app.state.settings.require_keys:
            raise HTTPException(401, "an API key is required: send 'Authorization: Bearer KEY'")
        if not is_loopback(request.client.host if request.client else None):
            raise HTTPException(401, "an API key is required for clients other than this machine (loopback)")
        return LOCAL
    key = keys.find(secret)
    if key is None:
        raise HTTPException(401, "unknown or revoked API key")
    return key


def require(key: ApiKey, scope: str, collection: str | None = None) -> None:
    """403 unless ``key`` may do ``scope`` on ``collection``. A collection outside the key's reach is reported as
    not found, so a key cannot probe which collections exist."""
    if collection is not None and not key.sees(collection):
        raise HTTPException(404, f"no collection {collection!r} for this key")
    if not key.allows(scope, collection):
        raise HTTPException(403, f"the key {key.name!r} has scope {key.scope!r}; this needs {scope!r}")
