"""The console scripts are one `gradwave-<verb>` family whose `--help` fits a screen; the old names run
the same commands after a one-line deprecation notice."""
import importlib
import sys

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


def test_every_old_name_points_into_the_family():
    assert set(commands.RENAMED.values()) <= set(commands.COMMANDS)
    assert not set(commands.RENAMED) & set(commands.COMMANDS)


def test_an_old_name_runs_its_command_after_a_notice(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/tts-text"])
    assert commands.main(["Dr. Smith paid $3.50."]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == "tts-text is deprecated and goes in the next release: use gradwave-text"
    assert "doctor smith paid three dollars" in captured.out.lower()
    monkeypatch.setattr(sys, "argv", ["/usr/bin/gradwave-nothing"])
    assert commands.main([]) == 2
