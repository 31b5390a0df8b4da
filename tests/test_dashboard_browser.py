"""The charrnn tab end to end: `tensorboard --logdir` on a free loopback port over a run trained
here, driven in headless Chromium (Debian's chromium and chromium-driver, which .ci/run installs)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import clean_env, free_ports

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
WAIT_SECONDS = 90


def wait_for(condition, what: str, seconds: float = WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up after {seconds} s waiting for {what}")


@pytest.fixture
def tensorboard(trained_run, tmp_path):
    """The URL of a TensorBoard serving the trained run's logs; ended with every process it started."""
    root, _ = trained_run
    (port,) = free_ports(1)
    log = open(tmp_path / "tensorboard.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", "logs", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=root, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def tab_listed():
        assert process.poll() is None, (tmp_path / "tensorboard.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/data/plugins_listing", timeout=5) as answer:
                return json.load(answer).get("charrnn", {}).get("enabled")
        except OSError:
            return False

    try:
        wait_for(tab_listed, "TensorBoard to list the charrnn tab")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(WAIT_SECONDS)
        yield driver
    finally:
        driver.quit()


def fill(form, name, value):
    field = form.find_element("name", name)
    field.clear()
    field.send_keys(str(value))


def test_the_tab_generates_text_from_a_prime_and_shows_bad_input(tensorboard, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{tensorboard}/#charrnn")
    frame = wait_for(lambda: browser.find_elements("css selector", "iframe"), "the tab's frame")[0]
    browser.switch_to.frame(frame)
    form = wait_for(lambda: browser.find_elements("id", "form"), "the form")[0]
    wait_for(lambda: form.find_element("name", "run").get_attribute("value") == "e2e", "the run list")
    assert "step 12" in browser.find_element("id", "runs").text

    fill(form, "prime", "First")
    fill(form, "length", 300)
    fill(form, "seed", 4)
    form.find_element("id", "generate").click()
    wait_for(lambda: "characters in" in browser.find_element("id", "status").text, "the text")
    (sample,) = browser.find_elements("css selector", "pre.sample")
    text = sample.get_property("textContent")
    assert text.startswith("First") and len(text) == len("First") + 300
    command = browser.find_element("css selector", "figcaption code").text
    assert command.startswith("python -m charrnn.sample --save_dir") and "--seed 4" in command
    browser.save_screenshot(str(tmp_path / "charrnn_tab.png"))

    fill(form, "length", -1)
    form.find_element("name", "length").send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard's way to generate
    message = browser.find_element("id", "message")
    wait_for(lambda: message.is_displayed(), "the message")
    assert "length must be a whole number from 1 to 20,000, got -1" in message.text
