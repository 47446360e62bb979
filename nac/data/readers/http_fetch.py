"""Download an http(s) URL into memory, turning every failure into a DataError a user can act on."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request

from nac.data.errors import DataError

__all__ = ["MAX_DOWNLOAD_BYTES", "fetch_url"]

#: Refuse bodies larger than this (the data is held in memory).
MAX_DOWNLOAD_BYTES = 2 * 1024**3
_CHUNK = 1 << 20


def fetch_url(url: str, *, timeout: float = 60.0) -> tuple[bytes, str]:
    """GET `url`; return (body, content type). Only http and https are allowed."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DataError(f"{url}: only http:// and https:// URLs can be downloaded")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, headers={"User-Agent": "nac-data-ingest/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_DOWNLOAD_BYTES:
                raise DataError(f"{url} is {int(length)} bytes, above the "
                                f"{MAX_DOWNLOAD_BYTES} byte limit; use a smaller file")
            chunks, total = [], 0
            while chunk := response.read(_CHUNK):
                total += len(chunk)
                if total > MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url} is larger than the {MAX_DOWNLOAD_BYTES} byte "
                                    "limit; use a smaller file")
                chunks.append(chunk)
            content_type = response.headers.get_content_type()
    except urllib.error.HTTPError as e:
        raise DataError(f"{url} answered HTTP {e.code} {e.reason}; check the URL (and that "
                        "the file is published there)") from None
    except urllib.error.URLError as e:
        raise DataError(f"{url} could not be reached ({e.reason}); check the host name, "
                        "port and network access") from None
    except TimeoutError:
        raise DataError(f"{url} did not answer within {timeout:g} s; check the server or "
                        "raise the timeout") from None
    except (http.client.HTTPException, ConnectionError, OSError) as e:
        raise DataError(f"{url}: download failed ({e}); retry or check the server") from None
    return b"".join(chunks), content_type
