"""One reader per source kind; each turns bytes or a directory into a `Dataset`.

Readers take a `where` string (the file or URL as the user wrote it) so every error names it.
"""

from __future__ import annotations

from nac.data.readers.builtin import BUILTIN_DATASETS, load_builtin
from nac.data.readers.csv_reader import read_csv
from nac.data.readers.http_fetch import fetch_url
from nac.data.readers.image_folder import IMAGE_SUFFIXES, read_image_folder
from nac.data.readers.npz_reader import read_npz

__all__ = [
    "BUILTIN_DATASETS",
    "IMAGE_SUFFIXES",
    "fetch_url",
    "load_builtin",
    "read_csv",
    "read_image_folder",
    "read_npz",
]
