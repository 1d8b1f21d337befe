"""Dataclass configs to and from plain dicts and JSON, with `--set key=value` overrides."""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Type, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config field is unknown or has a value of the wrong type."""


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls: Type[T], data: dict, where: str = "config") -> T:
    """Build `cls` from `data`, recursing into nested dataclasses; unknown keys are an error."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    upgrade = getattr(cls, "upgrade", None)
    if upgrade is not None:
        data = upgrade(dict(data), where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = from_dict(kind, value, f"{where}.{name}")
        elif (kind is tuple or typing.get_origin(kind) is tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def drop_retired(data: dict, where: str, retired: dict) -> dict:
    """`data` without the fields an earlier version had and this one removed. `retired` maps each
    name to the values that meant "off" (the field is then dropped silently), or to None when any value
    was inert; a removed option that was switched on is refused, so a file never silently changes meaning."""
    for name in [key for key in data if key in retired]:
        value, inert = data.pop(name), retired[name]
        if inert is not None and value not in inert:
            raise ConfigError(f"{where}: {name}={json.dumps(value)} is an option this version removed "
                              "(measured no better; see docs/experiments.md)")
    return data


def move_into_sections(data: dict, where: str, moved: dict) -> dict:
    """`data` with the fields an earlier version kept at its top level moved into the sections that now hold
    them: `moved` maps each old name to (section, new name). A field given both ways is refused."""
    for name in [key for key in data if key in moved]:
        section, new_name = moved[name]
        data[section] = dict(data.get(section) or {})
        if new_name in data[section]:
            raise ConfigError(f"{where}: {name} and {section}.{new_name} are the same field; give one")
        data[section][new_name] = data.pop(name)
    return data


def save_json(config: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(config), indent=2) + "\n")


def load_json(cls: Type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON (line {err.lineno}): {err.msg}") from err
    return from_dict(cls, data, str(path))


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`a.b: old -> new` for every field whose value differs between two config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: T, overrides: list[str]) -> T:
    """Return a copy of `config` with `a.b=value` overrides applied (values parsed as JSON when they can be)."""
    data = to_dict(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a config section")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"override {item!r}: unknown field {key!r}")
        node[parts[-1]] = _parse_value(raw)
    return from_dict(type(config), data, "overrides")
