"""A YAML configuration file read into a pydantic model: every problem names the file, the key and the fix."""

import pytest
from pydantic import BaseModel, ConfigDict, Field

from sync_pipeline.contracts.config_file import load_yaml_model


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(7, ge=1)
    teams: dict[str, int] = Field(default_factory=dict)


class LimitsError(ValueError):
    pass


def _load(path):
    return load_yaml_model(path, Limits, what="limits file", error=LimitsError, missing="set LIMITS to yours")


def test_a_file_reads_and_an_empty_one_is_the_defaults(tmp_path):
    (tmp_path / "l.yaml").write_text("days: 3\nteams: {ops: 2}\n", encoding="utf-8")
    assert _load(tmp_path / "l.yaml") == Limits(days=3, teams={"ops": 2})
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert _load(tmp_path / "empty.yaml") == Limits()


def test_a_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(LimitsError) as e:
        _load(tmp_path / "nope.yaml")
    assert str(e.value) == f"limits file {tmp_path / 'nope.yaml'} not found: set LIMITS to yours"


def test_bad_yaml_and_every_refused_key_are_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("days: [1\n", encoding="utf-8")
    with pytest.raises(LimitsError, match=r"^limits file .*bad\.yaml is not valid YAML: "):
        _load(tmp_path / "bad.yaml")
    (tmp_path / "wrong.yaml").write_text("days: 0\nteams: {ops: many}\ncolour: red\n", encoding="utf-8")
    with pytest.raises(LimitsError) as e:
        _load(tmp_path / "wrong.yaml")
    assert str(e.value) == (f"limits file {tmp_path / 'wrong.yaml'}: days: Input should be greater than or equal to "
                            "1; teams.ops: Input should be a valid integer, unable to parse string as an integer; "
                            "colour: Extra inputs are not permitted")


def test_a_top_level_that_is_not_a_mapping_is_named_as_the_file(tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n", encoding="utf-8")
    with pytest.raises(LimitsError, match=r"list\.yaml: \(file\): Input should be a valid dictionary"):
        _load(tmp_path / "list.yaml")
