"""`ingest(source)`: resolve a source string to a reader and return a validated `Dataset`.

Sources:
    builtin:digits                 scikit-learn's 8x8 digits (the embedded default)
    path/to/file.csv | file.npz    a local file (relative to the working directory)
    file:///abs/path/file.csv      the same as a URI
    https://host/data.npz          downloaded over http(s)
    path/to/images/                class sub-folders of PNG/JPEG images
    path/to/artifact/              an existing nac-dataset artifact directory (meta.json)

The file format comes from `format=` (or a `#format=csv` URL fragment, never sent to a server),
otherwise from the file name's extension (.csv, .npz).
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from pathlib import Path

from nac.data.errors import DataError
from nac.data.format import META_FILE, Dataset, read_dataset
from nac.data.readers import fetch_url, load_builtin, read_csv, read_image_folder, read_npz
from nac.data.shapes import format_shape, parse_image_shape

__all__ = ["DEFAULT_SOURCE", "FORMATS", "ingest"]

#: The embedded default: works with no network and no files.
DEFAULT_SOURCE = "builtin:digits"
#: File formats a CSV/NPZ source may declare.
FORMATS = ("csv", "npz")
_EXTENSIONS = {".csv": "csv", ".npz": "npz"}
_SCHEMES = "builtin:NAME, a local path, file://PATH, http:// or https:// URL"


def _declared_format(fragment: str, fmt: str, where: str) -> str:
    params = urllib.parse.parse_qs(fragment)
    from_fragment = params.get("format", [""])[0].strip().lower()
    fmt = (fmt or "").strip().lower().lstrip(".")
    if fmt and from_fragment and fmt != from_fragment:
        raise DataError(f"{where}: format={fmt!r} contradicts the URL's #format="
                        f"{from_fragment!r}; give one of them")
    declared = fmt or from_fragment
    if declared and declared not in FORMATS:
        raise DataError(f"{where}: format {declared!r} is not supported; use one of "
                        f"{', '.join(FORMATS)}")
    return declared


def _file_format(name: str, declared: str, where: str) -> str:
    if declared:
        return declared
    lower = name.lower()
    for ext, fmt in _EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    raise DataError(f"{where}: cannot tell the file format from the name; use a .csv or .npz "
                    "name, or declare it with format=csv|npz (or a #format=csv URL fragment)")


def _parse(data: bytes, fmt: str, *, where: str, source: str, label_column: str,
           shape: tuple[int, int, int] | None) -> Dataset:
    if fmt == "csv":
        return read_csv(data, where=where, source=source, label_column=label_column,
                        image_shape=shape)
    return read_npz(data, where=where, source=source, image_shape=shape)


def _redact(url: str) -> str:
    """The URL without a password, for metadata and messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _from_path(path: Path, where: str, source: str, fragment: str, fmt: str,
               label_column: str, shape: tuple[int, int, int] | None) -> Dataset:
    if not path.exists():
        raise DataError(f"{where}: no such file or directory ({path.absolute()}); check the "
                        f"path (relative paths start from {Path.cwd()})")
    if path.is_dir():
        if (path / META_FILE).is_file():
            return _fixed_shape(read_dataset(path), shape, where)
        return read_image_folder(path, source=source, image_shape=shape)
    declared = _declared_format(fragment, fmt, where)
    file_format = _file_format(path.name, declared, where)
    if path.stat().st_size == 0:
        article = "an" if file_format == "npz" else "a"
        raise DataError(f"{where} is empty (0 bytes); point the source at {article} "
                        f"{file_format.upper()} file that holds data")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{where} could not be read ({e.strerror}); check its permissions") \
            from None
    return _parse(data, file_format, where=where, source=source, label_column=label_column,
                  shape=shape)


def _fixed_shape(ds: Dataset, shape: tuple[int, int, int] | None, where: str) -> Dataset:
    """Built-in data and artifacts have a shape already: image_shape may only confirm it."""
    if shape is not None and shape != ds.shape:
        raise DataError(f"{where} has shape {format_shape(ds.shape)}; image_shape "
                        f"{format_shape(shape)} cannot reshape it (image_shape applies to flat "
                        "CSV/NPZ rows and image folders); leave image_shape empty")
    return ds


def _check_classes(ds: Dataset, where: str) -> Dataset:
    present = [c for c, n in zip(ds.classes, ds.class_counts(), strict=True) if n]
    if not present:
        raise DataError(f"{where} holds no rows; give a source with data")
    if len(present) < 2:
        raise DataError(f"{where}: all {ds.rows} rows have the same label {present[0]!r}; a "
                        "classifier needs at least two classes (check label_column, or add "
                        "rows of other classes)")
    return ds


def ingest(source: str = DEFAULT_SOURCE, *, label_column: str = "label",
           image_shape: str | tuple[int, int, int] | None = None, format: str = "",
           timeout: float = 60.0) -> Dataset:
    """Read `source` into a validated Dataset (split None, no normalisation).

    `image_shape` ("CxHxW", "HxW" or a tuple) shapes flat CSV/NPZ rows; without it flat
    rows become shape (F, 1, 1). Raises DataError naming the problem and the fix.
    """
    if not isinstance(source, str) or not source.strip():
        raise DataError(f"source is empty; give {_SCHEMES} (default {DEFAULT_SOURCE})")
    source = source.strip()
    if not isinstance(label_column, str) or not label_column.strip():
        raise DataError("label_column is empty; name the CSV column that holds the labels")
    label_column = label_column.strip()
    shape = image_shape if isinstance(image_shape, tuple) else parse_image_shape(image_shape)
    parts = urllib.parse.urlsplit(source)
    scheme = parts.scheme.lower() if len(parts.scheme) > 1 else ""  # "C:" is a drive
    if source.lower().startswith("builtin:"):
        ds = _fixed_shape(load_builtin(source.split(":", 1)[1]), shape, source)
    elif scheme in ("http", "https"):
        where = _redact(source)
        fmt = _file_format(urllib.parse.unquote(parts.path),
                           _declared_format(parts.fragment, format, where), where)
        data, _content_type = fetch_url(urllib.parse.urlunsplit(parts._replace(fragment="")),
                                       timeout=timeout)
        if not data:
            raise DataError(f"{where} answered with an empty body; check the URL")
        ds = _parse(data, fmt, where=where, source=where, label_column=label_column,
                    shape=shape)
    elif scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise DataError(f"{source}: file:// URIs must name a local path "
                            "(file:///abs/path or file:relative/path)")
        path = Path(urllib.request.url2pathname(parts.path))
        ds = _from_path(path, source, source, parts.fragment, format, label_column, shape)
    elif scheme:
        raise DataError(f"source {source!r}: scheme {scheme}:// is not supported; use "
                        f"{_SCHEMES}")
    else:
        path_text, fragment = source, ""
        if "#" in source and source.rsplit("#", 1)[1].startswith("format="):
            path_text, fragment = source.rsplit("#", 1)  # a '#' elsewhere is part of the name
        path = Path(os.path.expanduser(path_text))
        ds = _from_path(path, source, source, fragment, format, label_column, shape)
    return _check_classes(ds, source if scheme not in ("http", "https") else _redact(source))
