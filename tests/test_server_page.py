"""The server's page in a real headless browser: type, press speak, hear a WAV; see the server's errors."""
import shutil

import pytest

pytest.importorskip("fastapi", reason="the server needs fastapi (pip install -e .[serve])")
webdriver = pytest.importorskip("selenium.webdriver", reason="the page test needs selenium (pip install -e .[test])")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip("no chromium/chromedriver (scripts/test.sh installs Debian's chromium and chromium-driver as root)",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from gradwave.server.app import create_app  # noqa: E402
from gradwave.server.background import BackgroundServer  # noqa: E402
from gradwave.synthesizer import Synthesizer  # noqa: E402
from tiny_checkpoints import write_tiny_checkpoints  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
    yield driver
    driver.quit()


def test_page_speaks_and_shows_errors(tmp_path, browser):
    root = write_tiny_checkpoints(tmp_path)
    synth = Synthesizer(root / "acoustic.pt", root / "vocoder.pt", timesteps=2)
    with BackgroundServer(create_app(synth)) as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#voice option"))
        text = browser.find_element(By.ID, "text")
        text.clear()
        text.send_keys("Hello from the browser. It speaks!")
        browser.find_element(By.ID, "speak").click()
        duration = wait.until(lambda d: d.execute_script(
            "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration > 0 && a.duration;"))
        assert duration > 0.5
        assert "real-time factor" in browser.find_element(By.ID, "stats").text
        assert browser.find_element(By.ID, "error").text == ""

        text.clear()
        text.send_keys("@#$%")
        browser.find_element(By.ID, "speak").click()
        message = wait.until(lambda d: d.find_element(By.ID, "error").text)
        assert "400" in message and "nothing speakable" in message


def test_the_page_asks_for_the_key_when_the_server_has_one(tmp_path, browser):
    from gradwave.server.access import AccessControl

    root = write_tiny_checkpoints(tmp_path)
    synth = Synthesizer(root / "acoustic.pt", "griffin-lim", timesteps=2)
    with BackgroundServer(create_app(synth, access=AccessControl(("house-key",)))) as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 60)
        assert "API key" in wait.until(lambda d: d.find_element(By.ID, "error").text)
        assert browser.find_element(By.ID, "key-row").is_displayed()
        key = browser.find_element(By.ID, "key")
        key.send_keys("house-key")
        browser.find_element(By.ID, "text").click()  # leaving the field commits the key
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#voice option"))
        browser.find_element(By.ID, "speak").click()
        assert wait.until(lambda d: d.execute_script(
            "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration > 0;"))
