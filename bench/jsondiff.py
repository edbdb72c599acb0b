"""Where two parsed JSON answers first differ: for the benches' and tests' equality checks."""

from __future__ import annotations

from typing import Any


def first_difference(
    a: Any, b: Any, path: str = "data", names: tuple[str, str] = ("hub", "floor")
) -> str | None:
    """The path where `a` and `b` first differ and how, or None when they are equal."""
    left, right = names
    if type(a) is not type(b):
        return f"{path}: {left} {a!r:.120} vs {right} {b!r:.120}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {left} {list(a)} vs {right} {list(b)}"
        for key in a:
            diff = first_difference(a[key], b[key], f"{path}.{key}", names)
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items in {left} vs {len(b)} in {right}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = first_difference(x, y, f"{path}[{i}]", names)
            if diff:
                return diff
        return None
    return None if a == b else f"{path}: {left} {a!r:.120} vs {right} {b!r:.120}"
