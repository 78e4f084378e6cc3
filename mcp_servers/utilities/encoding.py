"""``hash_text``, ``generate_uuid`` and ``base64_codec``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

MAX_INPUT_LENGTH = 1_000_000
_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


# --------------------------------------------------------------------------- hash_text
class HashResult(BaseModel):
    algorithm: str
    hex: str = Field(description="The digest, lower-case hexadecimal")
    input_bytes: int = Field(description="Length of the UTF-8 encoded input")


def hash_text(
    text: Annotated[str, Field(max_length=MAX_INPUT_LENGTH, description="Text to hash (UTF-8 encoded)")],
    algorithm: Annotated[
        Literal["md5", "sha1", "sha256", "sha512", "blake2b"], Field(description="Hash function")
    ] = "sha256",
) -> HashResult:
    """Hash a text with md5, sha1, sha256, sha512 or blake2b (64-byte digest); returns the hex digest.

    md5 and sha1 are for checksums and legacy identifiers only, not for security.
    """
    data = text.encode("utf-8")
    digest = hashlib.new(algorithm, data, usedforsecurity=algorithm not in ("md5", "sha1")).hexdigest()
    return HashResult(algorithm=algorithm, hex=digest, input_bytes=len(data))


# --------------------------------------------------------------------------- generate_uuid
class UuidResult(BaseModel):
    version: int
    uuids: list[str]


def generate_uuid(
    version: Annotated[
        Literal[4, 5], Field(description="4: random; 5: derived from namespace + name (SHA-1)")
    ] = 4,
    count: Annotated[int, Field(ge=1, le=100, description="How many (version 4 only; 1-100)")] = 1,
    namespace: Annotated[
        str | None,
        Field(max_length=64, description="Version 5: dns, url, oid, x500 or any UUID"),
    ] = None,
    name: Annotated[
        str | None, Field(max_length=1000, description="Version 5: the name to derive from")
    ] = None,
) -> UuidResult:
    """Generate random (v4) UUIDs, or the name-based (v5) UUID of a namespace and a name."""
    if version == 4:
        if namespace is not None or name is not None:
            raise ToolError("namespace and name are for version 5 only")
        return UuidResult(version=4, uuids=[str(uuid.uuid4()) for _ in range(count)])
    if namespace is None or name is None:
        raise ToolError("version 5 needs both namespace (dns, url, oid, x500 or a UUID) and name")
    if count != 1:
        raise ToolError(
            "version 5 is deterministic: the same namespace and name always give one UUID (count=1)"
        )
    ns = _NAMESPACES.get(namespace.lower())
    if ns is None:
        try:
            ns = uuid.UUID(namespace)
        except ValueError:
            raise ToolError(f"namespace {namespace!r} is neither dns/url/oid/x500 nor a UUID") from None
    return UuidResult(version=5, uuids=[str(uuid.uuid5(ns, name))])


# --------------------------------------------------------------------------- base64_codec
class Base64Result(BaseModel):
    operation: Literal["encode", "decode"]
    url_safe: bool
    result: str


def base64_codec(
    operation: Annotated[Literal["encode", "decode"], Field(description="encode text, or decode base64")],
    text: Annotated[
        str, Field(max_length=MAX_INPUT_LENGTH, description="Text to encode (UTF-8), or base64 to decode")
    ],
    url_safe: Annotated[
        bool, Field(description="Use the URL-safe alphabet (- and _ instead of + and /)")
    ] = False,
) -> Base64Result:
    """Encode UTF-8 text as base64, or decode base64 back to UTF-8 text (padding may be omitted)."""
    if operation == "encode":
        data = text.encode("utf-8")
        encoded = base64.urlsafe_b64encode(data) if url_safe else base64.b64encode(data)
        return Base64Result(operation=operation, url_safe=url_safe, result=encoded.decode("ascii"))

    compact = re.sub(r"\s+", "", text)
    alphabet = r"A-Za-z0-9\-_" if url_safe else r"A-Za-z0-9+/"
    bad = re.search(rf"[^{alphabet}=]", compact)
    if bad:
        hint = " (try url_safe=true)" if not url_safe and bad.group() in "-_" else ""
        raise ToolError(
            f"invalid base64 input: character {bad.group()!r} at position {bad.start() + 1}{hint}"
        )
    if "=" in compact.rstrip("="):
        raise ToolError("invalid base64 input: '=' padding may only appear at the end")
    if len(compact.rstrip("=")) % 4 == 1:
        raise ToolError(
            "invalid base64 input: its length is not possible for base64 (one character too many?)"
        )
    padded = compact.rstrip("=") + "=" * (-len(compact.rstrip("=")) % 4)
    try:
        if url_safe:
            padded = padded.translate(str.maketrans("-_", "+/"))
        data = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ToolError(f"invalid base64 input: {exc}") from None
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(
            "the decoded bytes are not UTF-8 text (binary data cannot be returned as text)"
        ) from None
    return Base64Result(operation=operation, url_safe=url_safe, result=decoded)
