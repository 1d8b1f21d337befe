"""The console scripts are one `gradwave-<verb>` family whose `--help` fits a screen."""
import importlib

import pytest

import commands

SCREEN_LINES = 50


@pytest.mark.parametrize("name, module", sorted(commands.COMMANDS.items()))
def test_each_command_is_named_in_the_family_and_its_help_fits_a_screen(name, module, monkeypatch, capsys):
    assert name.startswith("gradwave-")
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(["--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: {name} ")
    assert len(help_text.splitlines()) <= SCREEN_LINES, f"{name} --help is {len(help_text.splitlines())} lines"
