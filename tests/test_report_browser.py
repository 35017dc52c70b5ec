"""The report in a real headless browser (Debian's chromium + chromedriver, through Selenium).

One real `creativelens stream` run (the session's geometry tritonserver, real gRPC, sample photos,
a real video, a bad input) is reported and loaded: no console errors, boxes on the creatives, a
creative opened large, screenshots of the gallery and of a video timeline that show the boxes'
colours. The filters are checked on the constructed folder of test_report_folders.py, whose
expected counts come from its records.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from creativelens.sample_media import sample_stills
from serving_fixtures import GEOMETRY_MODEL, write_video
from report_fixtures import constructed_records, expected_visible, read_data, write_results

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
# Set to a folder (docs/) to keep the screenshots there: `CREATIVELENS_REPORT_SCREENSHOTS=docs pytest ...`
SCREENSHOTS = os.environ.get("CREATIVELENS_REPORT_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_report(driver, report: Path, hash_: str = "") -> None:
    driver.get("about:blank")
    driver.get_log("browser")  # drop what came before
    driver.get(report.resolve().as_uri() + "/index.html" + hash_)
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.body.getAttribute('data-ready')") != "1":
        assert time.monotonic() < deadline, "the report never finished rendering"
        time.sleep(0.1)


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def wait_images(driver) -> None:
    deadline = time.monotonic() + 20
    while not driver.execute_script("return [...document.images].filter(i => i.offsetParent).every(i => i.complete)"):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def screenshot(driver, element, path: Path) -> np.ndarray:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    element.screenshot(str(path))
    return cv2.imread(str(path))[:, :, ::-1]  # RGB


def has_colour(rgb: np.ndarray, hex_colour: str, tolerance: int = 40, at_least: int = 30) -> bool:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], np.int32)
    return int((np.abs(rgb.astype(np.int32) - target).max(axis=2) <= tolerance).sum()) >= at_least


@pytest.fixture(scope="module")
def streamed_report(geometry_server, tmp_path_factory):
    """A real stream run (CLI, as a user runs it) and its report (CLI too)."""
    folder = tmp_path_factory.mktemp("report_stream")
    media = [str(p) for p in sample_stills()[:3]] + [str(write_video(folder / "spot.mp4", 12))]
    (folder / "notes.txt").write_text("not media")
    media.append(str(folder / "notes.txt"))
    results, report = folder / "results", folder / "report"
    run = subprocess.run([sys.executable, "-m", "creativelens.cli", "stream", *media, "--out", str(results),
                          "--server", geometry_server.grpc_url, "--model", GEOMETRY_MODEL, "--every", "2",
                          "--threshold", "0.3"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]  # 1: some inputs were errors (the text file)
    made = subprocess.run([sys.executable, "-m", "creativelens.cli", "report", str(results), "--out", str(report)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    assert str(report / "index.html") in made.stdout
    records = [json.loads(line) for line in (results / "detections.jsonl").read_text().splitlines()]
    return records, report


def test_a_real_stream_run_loads_without_console_errors_and_opens_a_creative(browser, streamed_report):
    from selenium.webdriver.common.by import By

    records, report = streamed_report
    open_report(browser, report, "#gallery")
    wait_images(browser)
    assert console_errors(browser) == []
    assert int(browser.find_element(By.ID, "count").get_attribute("data-count")) == len(records)
    overview = read_data(report)["overview"]
    assert overview["frames"] == 6 and overview["stills"] == 3 and len(overview["bad_inputs"]) == 1
    cards = browser.find_elements(By.CSS_SELECTOR, "#cards .card")
    assert len(cards) == len(records)
    good = [c for c in cards if c.find_elements(By.CSS_SELECTOR, "img")]
    assert len(good) == 9
    for card in good:  # the geometry model's two boxes (whole image 0.95, centre 0.5) on every good item
        assert len(card.find_elements(By.CSS_SELECTOR, "svg g.det")) == 2
    good[0].click()
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed()
    labels = sorted(g.get_attribute("data-label") for g in detail.find_elements(By.CSS_SELECTOR, "#d-figure g.det"))
    assert labels == ["centre", "image"]
    deadline = time.monotonic() + 10
    while "loading" in browser.find_element(By.ID, "d-record").text:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    shown = json.loads(browser.find_element(By.ID, "d-record").text)
    assert shown["models"][GEOMETRY_MODEL]["detections"] and shown["source"] in {r["source"] for r in records}
    assert console_errors(browser) == []


def test_screenshots_of_the_gallery_and_a_video_timeline_show_the_boxes(browser, streamed_report, tmp_path):
    from selenium.webdriver.common.by import By

    _, report = streamed_report
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    colour = read_data(report)["colours"][0]
    open_report(browser, report, "#gallery")
    wait_images(browser)
    gallery = screenshot(browser, browser.find_element(By.ID, "tab-gallery"), shots / "report-gallery.png")
    assert gallery.std() > 20  # not blank
    assert has_colour(gallery, colour)
    open_report(browser, report, "#videos")
    wait_images(browser)
    video = browser.find_element(By.CSS_SELECTOR, ".video")
    picture = screenshot(browser, video, shots / "report-video-timeline.png")
    assert picture.std() > 20 and has_colour(picture, colour, at_least=200)  # strip boxes + timeline bars
    bars = video.find_elements(By.CSS_SELECTOR, "svg.timeline rect.bar")
    assert bars and {b.get_attribute("fill") for b in bars} == {colour}
    assert console_errors(browser) == []


@pytest.fixture(scope="module")
def constructed_report(tmp_path_factory):
    from creativelens.report import build_report

    folder = tmp_path_factory.mktemp("report_filters")
    records = constructed_records(folder)
    results = write_results(folder, records)
    build_report(results, folder / "report", workers=1)
    return records, folder / "report"


def set_filters(driver, model: str | None = None, label: str | None = None, score: float = 0.0, search: str = "") -> int:
    driver.execute_script("""
        const [model, label, score, search] = arguments;
        const pick = (id, text) => { const s = document.getElementById(id);
          s.value = text === null ? '-1' : [...s.options].find(o => o.text === text).value;
          s.dispatchEvent(new Event('change')); };
        pick('f-model', model); pick('f-label', label);
        const range = document.getElementById('f-score'); range.value = score; range.dispatchEvent(new Event('input'));
        const box = document.getElementById('f-search'); box.value = search; box.dispatchEvent(new Event('input'));
    """, model, label, score, search)
    return int(driver.find_element("id", "count").get_attribute("data-count"))


def test_label_model_and_score_filters_change_the_visible_creatives(browser, constructed_report):
    from selenium.webdriver.common.by import By

    records, report = constructed_report
    open_report(browser, report, "#gallery")
    assert set_filters(browser) == len(records)
    cases = [dict(label="product"), dict(label="face"), dict(label="logo", score=0.85), dict(score=0.92),
             dict(model="faces"), dict(model="logos", label="logo", score=0.5), dict(model="faces", label="logo")]
    seen = set()
    for case in cases:
        shown = set_filters(browser, **case)
        assert shown == expected_visible(records, **case), case
        cards = browser.find_elements(By.CSS_SELECTOR, "#cards .card")
        assert len(cards) == shown
        for card in cards:  # only boxes that pass the filters are drawn
            for g in card.find_elements(By.CSS_SELECTOR, "svg g.det"):
                assert case.get("label") in (None, g.get_attribute("data-label"))
                assert case.get("model") in (None, g.get_attribute("data-model"))
        seen.add(shown)
    assert len(seen) >= 4  # the cases really tell the filters apart
    assert set_filters(browser, search="spot.mp4") == 6
    assert set_filters(browser, search="still_1") == 1
    assert console_errors(browser) == []


def test_a_moved_image_and_a_bad_input_show_what_is_missing(browser, constructed_report):
    from selenium.webdriver.common.by import By

    records, report = constructed_report
    data = read_data(report)
    moved = next(i for i in data["items"] if i["n"] == "moved_away.jpg")
    open_report(browser, report, f"#item={moved['i']}")
    figure = browser.find_element(By.ID, "d-figure")
    assert "image missing" in figure.text and "moved" in figure.text
    assert len(figure.find_elements(By.CSS_SELECTOR, "g.det")) == 2  # its boxes on an empty canvas
    open_report(browser, report, "#overview")
    notes = " ".join(n.text for n in browser.find_elements(By.CSS_SELECTOR, ".problem"))
    assert "cut short" in notes and "mystery" in notes and "moved_away.jpg" in notes
    assert "RANDOM WEIGHTS" in browser.find_element(By.ID, "warnings").text
    assert "not an image or a video" in browser.find_element(By.ID, "tab-overview").text
    assert console_errors(browser) == []


def test_ocr_words_and_excluded_regions_are_drawn_on_the_opened_creative(browser, constructed_report):
    from selenium.webdriver.common.by import By

    _, report = constructed_report
    first = next(i for i in read_data(report)["items"] if i["n"].startswith("still_0"))
    open_report(browser, report, f"#item={first['i']}")
    deadline = time.monotonic() + 10
    while not browser.find_elements(By.CSS_SELECTOR, "#d-figure rect.ocr-word"):
        assert time.monotonic() < deadline, "the OCR words never appeared"
        time.sleep(0.1)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#d-figure rect.ocr-word")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "#d-figure rect.ocr-excluded")) == 2
    assert "BIG SALE" in browser.find_element(By.ID, "d-ocr-text").text
    browser.find_element(By.ID, "d-ocr").click()
    assert not browser.find_elements(By.CSS_SELECTOR, "#d-figure rect.ocr-word")
    assert console_errors(browser) == []
