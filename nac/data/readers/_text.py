"""Checks shared by readers of downloaded or local bytes."""

from __future__ import annotations

__all__ = ["describe_start", "looks_like_html"]


def looks_like_html(data: bytes) -> bool:
    """True for an HTML page (a login or error page served instead of the file)."""
    head = data[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))


def describe_start(data: bytes) -> str:
    """The first bytes, for an error message saying what was actually received."""
    return repr(data[:40]) + ("..." if len(data) > 40 else "")
