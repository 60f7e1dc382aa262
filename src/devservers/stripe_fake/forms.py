"""Stripe's form encoding, decoded: `a[b]=1` is a dict, `a[0]=x` and `a[]=x` are lists.

`Params` reads typed values out of the decoded form and answers bad ones the way Stripe does
(400 `invalid_request_error` naming the parameter), so handlers hold no validation plumbing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import parse_qsl

from devservers.stripe_fake.errors import StripeError, invalid

Form = dict[str, Any]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def decode(raw: str) -> Form:
    root: Form = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        path = [match.group(1), *_PART.findall(match.group(2))] if match else [key]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid hash: {key}", param=path[0])
            node = child
        node[path[-1] or str(len(node))] = value
    return {key: _listify(value, key) for key, value in root.items()}


def _listify(node: Any, key: str = "") -> Any:
    """Turn dicts keyed 0..n (from `a[0]` or `a[]`) into lists, depth first; metadata keys
    are the caller's own and may well be digits."""
    if not isinstance(node, dict):
        return node
    items = {name: _listify(value, name) for name, value in node.items()}
    if key != "metadata" and items and all(name.isdigit() for name in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


class Params:
    """Typed, validated access to a (possibly nested) form; `prefix` names nested params."""

    def __init__(self, data: Form, prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}[{key}]" if self.prefix else key

    def allow(self, keys: Collection[str]) -> None:
        """Refuse parameters the endpoint does not know, as Stripe does: a typo is an error."""
        for key in self.data:
            if key not in keys and key != "expand":
                name = self.name(key)
                raise invalid(
                    f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
                )

    def text(self, key: str, choices: Iterable[str] | None = None) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":  # an empty string means "unset" to Stripe
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {self.name(key)}", param=self.name(key))
        options = list(choices or ())
        if options and value not in options:
            raise invalid(
                f"Invalid {self.name(key)}: must be one of {', '.join(options)}",
                param=self.name(key),
            )
        return value

    def required_text(self, key: str, choices: Iterable[str] | None = None) -> str:
        value = self.text(key, choices)
        if value is None:
            raise self._missing(key)
        return value

    def integer(self, key: str, minimum: int | None = None) -> int | None:
        raw = self.text(key)
        if raw is None:
            return None
        if not re.fullmatch(r"-?\d+", raw):
            raise invalid(
                f"Invalid integer: {raw}", param=self.name(key), code="parameter_invalid_integer"
            )
        value = int(raw)
        if minimum is not None and value < minimum:
            raise invalid(
                f"This value must be greater than or equal to {minimum}.",
                param=self.name(key),
                code="parameter_invalid_integer",
            )
        return value

    def required_integer(self, key: str, minimum: int | None = None) -> int:
        value = self.integer(key, minimum)
        if value is None:
            raise self._missing(key)
        return value

    def flag(self, key: str) -> bool | None:
        raw = self.text(key)
        if raw is None:
            return None
        if raw.lower() not in _TRUE + _FALSE:
            raise invalid(f"Invalid boolean: {raw}", param=self.name(key))
        return raw.lower() in _TRUE

    def nested(self, key: str, allowed: Collection[str]) -> Params | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid("Invalid object", param=self.name(key))
        inner = Params(value, self.name(key))
        inner.allow(allowed)
        return inner

    def strings(self, key: str) -> list[str] | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid("Invalid array", param=self.name(key))
        return list(value)

    def metadata(self, current: dict[str, str] | None = None) -> dict[str, str]:
        """`metadata[...]` merged into `current` by Stripe's rules: an empty value unsets its
        key, `metadata=""` unsets them all; at most 50 keys of 40 characters, values of 500."""
        value = self.data.get("metadata")
        merged = dict(current or {})
        if value is None:
            return merged
        if value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise invalid("Invalid object", param="metadata")
        for key, item in value.items():
            if len(key) > 40 or len(item) > 500:
                raise invalid(
                    "Metadata keys are limited to 40 characters and values to 500.",
                    param=f"metadata[{key}]",
                )
            if item:
                merged[key] = item
            else:
                merged.pop(key, None)
        if len(merged) > 50:
            raise invalid("You can have at most 50 metadata keys.", param="metadata")
        return merged

    def _missing(self, key: str) -> StripeError:
        return invalid(
            f"Missing required param: {self.name(key)}.",
            param=self.name(key),
            code="parameter_missing",
        )
