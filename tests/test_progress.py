import io

from gradwave.common.progress import progress_bar


def test_progress_in_a_log_is_a_few_whole_lines():
    log = io.StringIO()
    for _ in progress_bar(range(5000), file=log, desc="work"):
        pass
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert 1 <= len(lines) <= 3 and lines[-1].startswith("work: 100%") and "5000/5000" in lines[-1]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_redraws_in_place():
    screen = _Terminal()
    for _ in progress_bar(range(50), file=screen, mininterval=0):
        pass
    assert "\r" in screen.getvalue()
