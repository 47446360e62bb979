"""`nac.documents`: the one header check every versioned-document reader uses."""

from __future__ import annotations

import pytest

from nac.documents import check_header, header
from nac.errors import FieldError


class _Refused(ValueError):
    pass


def test_header_is_the_first_two_keys_a_writer_spreads() -> None:
    doc = {**header("nac-model", 1), "classes": ["a", "b"]}
    assert list(doc) == ["format", "version", "classes"]
    assert check_header(doc, "nac-model", 1, where="meta.json") is doc


@pytest.mark.parametrize("doc, expected", [
    ([1, 2], "m.json: expected a JSON object with \"format\": 'nac-model', got list; re-save"),
    ({"format": "nac-dataset", "version": 1},
     "m.json: \"format\" is 'nac-dataset', expected 'nac-model'; re-save"),
    ({"version": 1}, "m.json: \"format\" is None, expected 'nac-model'; re-save"),
    ({"format": "nac-model", "version": 3},
     "m.json: \"version\" 3 of 'nac-model' is not supported; this reader knows version 1"),
    ({"format": "nac-model"}, "m.json: \"version\" None of 'nac-model' is not supported"),
])
def test_a_wrong_header_names_file_field_value_and_fix(doc, expected) -> None:
    with pytest.raises(_Refused) as err:
        check_header(doc, "nac-model", 1, where="m.json", error=_Refused, hint="re-save")
    assert str(err.value).startswith(expected) and str(err.value).endswith("; re-save")


def test_several_versions_may_be_accepted() -> None:
    for v in (1, 2):
        check_header({"format": "f", "version": v}, "f", (1, 2), where="x")
    with pytest.raises(ValueError, match="knows version 1, 2"):
        check_header({"format": "f", "version": 3}, "f", (1, 2), where="x")


def test_a_field_error_class_gets_the_where_as_its_path() -> None:
    with pytest.raises(FieldError) as err:
        check_header({"format": "f", "version": 9}, "f", 1, where="architecture",
                     error=FieldError)
    assert err.value.path == "architecture" and err.value.problem.startswith('"version" 9')
