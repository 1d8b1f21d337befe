from dataclasses import dataclass, field

import pytest

from gradwave.common.config import ConfigError, apply_overrides, from_dict, load_json, save_json


@dataclass
class Inner:
    size: int = 3
    dims: tuple = (1, 2)


@dataclass
class Outer:
    name: str = "x"
    rate: float = 1e-4
    inner: Inner = field(default_factory=Inner)


def test_json_round_trip(tmp_path):
    config = Outer(name="y", inner=Inner(size=5, dims=(4, 5)))
    save_json(config, tmp_path / "c.json")
    assert load_json(Outer, tmp_path / "c.json") == config


def test_overrides_nested_and_typed():
    config = apply_overrides(Outer(), ["inner.size=7", "rate=0.5", "name=hello", "inner.dims=[3,4]"])
    assert config == Outer(name="hello", rate=0.5, inner=Inner(size=7, dims=(3, 4)))


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match="inner.bogus"):
        apply_overrides(Outer(), ["inner.bogus=1"])
    with pytest.raises(ConfigError, match="colour"):
        from_dict(Outer, {"colour": 1})


def test_bad_json_names_file(tmp_path):
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ConfigError, match="bad.json"):
        load_json(Outer, tmp_path / "bad.json")
