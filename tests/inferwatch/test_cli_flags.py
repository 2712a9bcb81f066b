"""``inferwatch.cli_flags``: flags derived from a throwaway settings class, and parsed back by ``from_cli``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from inferwatch.cli_flags import OMIT, Flag, add_settings_arguments, env_var, human_bytes, show_default
from inferwatch.settings import from_cli


class Toy(BaseSettings):
    """A settings class with one field of each kind a flag is derived from."""

    model_config = SettingsConfigDict(env_prefix="TOY_", extra="ignore")

    metrics_port: int = Field(8082, description="Port of /metrics.")
    pairing_ttl: float = Field(30.0, description="Seconds to wait.")
    name: str = Field("toy", description="A name.")
    state_dir: Path | None = Field(None, description="Where state goes; default somewhere.")
    mode: Literal["async", "sync"] = Field("async", description="How to answer.")
    sink: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Sink URIs.")
    trust: bool = Field(False, description="Allow pickles.")
    colour: bool = Field(True, description="Colour output.")
    spool_max_bytes: int = Field(1 << 30, description="Spool bound; 0 = 100% off.")
    secret: str = Field("x", description="Not for the command line.")


def _parser(flags: dict[str, Flag] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toy")
    add_settings_arguments(p, Toy, flags)
    return p


def _actions(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in p._actions if a.dest != "help"}


def test_flag_names_and_dests_come_from_the_field_names() -> None:
    actions = _actions(_parser())
    assert list(actions) == list(Toy.model_fields)
    assert actions["metrics_port"].option_strings == ["--metrics-port"]
    assert actions["spool_max_bytes"].option_strings == ["--spool-max-bytes"]


def test_types_come_from_the_annotations() -> None:
    actions = _actions(_parser())
    assert actions["metrics_port"].type is int
    assert actions["pairing_ttl"].type is float
    assert actions["state_dir"].type is Path  # ``Path | None``: the None is dropped
    assert actions["name"].type is None  # argparse's own str


def test_a_literal_gives_choices() -> None:
    p = _parser()
    assert _actions(p)["mode"].choices == ("async", "sync")
    assert p.parse_args(["--mode", "sync"]).mode == "sync"
    with pytest.raises(SystemExit):
        p.parse_args(["--mode", "maybe"])


def test_a_list_gives_a_repeatable_flag() -> None:
    p = _parser()
    assert isinstance(_actions(p)["sink"], argparse._AppendAction)
    assert p.parse_args(["--sink", "a://", "--sink", "b://"]).sink == ["a://", "b://"]
    assert "repeatable" in _actions(p)["sink"].help  # type: ignore[operator]


def test_a_bool_off_by_default_gives_a_switch_and_one_on_by_default_a_no_switch() -> None:
    p = _parser()
    assert isinstance(_actions(p)["trust"], argparse._StoreTrueAction)
    assert p.parse_args(["--trust"]).trust is True
    assert p.parse_args(["--no-colour"]).colour is False


def test_every_flag_defaults_to_none_so_the_environment_still_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _parser()
    assert all(v is None for v in vars(p.parse_args([])).values())
    monkeypatch.setenv("TOY_PAIRING_TTL", "5")
    monkeypatch.setenv("TOY_METRICS_PORT", "9")
    settings = from_cli(Toy, p.parse_args(["--metrics-port", "7"]))
    assert settings.metrics_port == 7  # flag > environment
    assert settings.pairing_ttl == 5.0  # environment > default
    assert settings.name == "toy"  # default


def test_help_shows_the_description_the_fields_default_and_the_env_var() -> None:
    actions = _actions(_parser())
    assert actions["pairing_ttl"].help == "Seconds to wait (default: 30.0; env TOY_PAIRING_TTL)"
    assert actions["mode"].help == "How to answer (default: async; env TOY_MODE)"
    assert actions["spool_max_bytes"].help == "Spool bound; 0 = 100%% off (default: 1 GiB; env TOY_SPOOL_MAX_BYTES)"
    # nothing to show for None, an empty list or a switch that is off: the description says what happens
    assert actions["state_dir"].help == "Where state goes; default somewhere (env TOY_STATE_DIR)"
    assert actions["trust"].help == "Allow pickles (env TOY_TRUST)"
    help_text = _parser().format_help()
    assert "0 = 100% off (default: 1 GiB" in " ".join(help_text.split())  # argparse's % is escaped


def test_help_follows_the_field_default_when_it_changes() -> None:
    class Changed(Toy):
        pairing_ttl: float = Field(12.5, description="Seconds to wait.")

    p = argparse.ArgumentParser()
    add_settings_arguments(p, Changed)
    assert "(default: 12.5; env TOY_PAIRING_TTL)" in _actions(p)["pairing_ttl"].help  # type: ignore[operator]


def test_a_required_field_says_so() -> None:
    class Needs(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="NEEDS_")
        detector: Path = Field(description="Saved detector.")

    p = argparse.ArgumentParser()
    add_settings_arguments(p, Needs)
    assert _actions(p)["detector"].help == "Saved detector (required; env NEEDS_DETECTOR)"
    assert not _actions(p)["detector"].required  # the environment may give it


def test_overrides_change_metavar_aliases_help_and_leave_fields_out() -> None:
    p = _parser(
        {
            "sink": Flag(metavar="URI"),
            "metrics_port": Flag(aliases=("-m",), help="Port of the only server."),
            "secret": OMIT,
        }
    )
    actions = _actions(p)
    assert actions["sink"].metavar == "URI"
    assert actions["metrics_port"].option_strings == ["--metrics-port", "-m"]
    assert actions["metrics_port"].help == "Port of the only server (default: 8082; env TOY_METRICS_PORT)"
    assert p.parse_args(["-m", "1"]).metrics_port == 1
    assert "secret" not in actions


def test_only_and_skip_select_fields_for_argument_groups() -> None:
    p = argparse.ArgumentParser()
    add_settings_arguments(p, Toy, skip=("sink", "secret"))
    added = add_settings_arguments(p.add_argument_group("sinks"), Toy, only=("sink",))
    assert [a.dest for a in added] == ["sink"]
    assert "secret" not in _actions(p) and "sink" in _actions(p)


def test_an_override_for_no_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="Toy does not have: metrics_prot"):
        _parser({"metrics_prot": Flag(metavar="PORT")})


def test_a_field_without_description_is_an_error() -> None:
    class Undocumented(BaseSettings):
        port: int = 1

    with pytest.raises(ValueError, match=r"Undocumented.port has no description"):
        add_settings_arguments(argparse.ArgumentParser(), Undocumented)


def test_a_type_with_no_flag_is_an_error_naming_the_way_out() -> None:
    class Odd(BaseSettings):
        table: dict[str, int] = Field(default_factory=dict, description="A table.")

    with pytest.raises(TypeError, match=r"Odd.table: .*Flag\(omit=True\)"):
        add_settings_arguments(argparse.ArgumentParser(), Odd)
    add_settings_arguments(argparse.ArgumentParser(), Odd, {"table": OMIT})


def test_env_var_follows_prefix_and_alias() -> None:
    class Aliased(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="AL_")
        port: int = Field(1, description="Port.")
        home: str = Field("h", validation_alias="INFERWATCH_HOME", description="Home.")

    assert env_var(Toy, "pairing_ttl") == "TOY_PAIRING_TTL"
    assert env_var(Aliased, "port") == "AL_PORT"
    assert env_var(Aliased, "home") == "INFERWATCH_HOME"


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("spool_max_bytes", 1 << 30, "1 GiB"),
        ("max_payload_bytes", 1_048_576, "1 MiB"),
        ("spool_max_bytes", 1536, "1536"),
        ("spool_max_bytes", 0, "0"),
        ("queue_size", 1 << 20, "1048576"),  # only sizes in bytes are shown in MiB
        ("pairing_ttl", 30.0, "30.0"),
        ("host", "0.0.0.0", "0.0.0.0"),
        ("upstream", None, None),
        ("sink", [], None),
        ("trust", False, None),
    ],
)
def test_show_default(field: str, value: object, shown: str | None) -> None:
    assert show_default(field, value) == shown


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (1 << 10, 3 << 20, 5 << 30, 1000)] == ["1 KiB", "3 MiB", "5 GiB", "1000"]
