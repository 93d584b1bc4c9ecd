import pytest

from ganpad.training.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    load_toml,
    save_toml,
)


def test_toml_round_trip(tmp_path):
    cfg = RunConfig()
    apply_overrides(cfg, ["model.d=8", "train.lr=2e-4", "model.conditional=true",
                          "data.exclude_kits=A Kit,B"])  # fmt: skip
    save_toml(cfg, tmp_path / "c.toml")
    back = load_toml(tmp_path / "c.toml")
    assert back == cfg
    assert back.model.d == 8 and back.train.lr == 2e-4 and back.data.exclude_kits == ["A Kit", "B"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.dd=3", "unknown setting 'model.dd'"),
        ("nothing.d=3", "unknown setting"),
        ("model.d=big", "expected int"),
        ("model.conditional=maybe", "expected true or false"),
        ("model.d", "not section.key=value"),
    ],
)
def test_bad_overrides_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RunConfig(), [override])


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model]\nd = 'x'\n")
    with pytest.raises(ConfigError, match="bad.toml.*model.d"):
        load_toml(path)
    path.write_text("[modle]\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_toml(path)
