#!/usr/bin/python3
"""rtspd's pages in a real browser: Chromium headless through chromedriver (Selenium).

Run by tests/browser.rs against an rtspd it starts, or by hand:

    tests/browser/test_pages.py --url http://127.0.0.1:8554 --out target/browser \
        --movie movie.Mjpeg --file clips/sample.mp4 --expect movie.Mjpeg,clips/sample.mp4

Checks: the library lists every expected name with its thumbnail loaded; the player page's
picture moves (#video drawn into a canvas twice, a second apart: the pixels differ and are not
black); Space pauses and resumes, the arrows and the seek bar seek, F goes fullscreen; a browser
video file plays in its <video> element and seeks. Screenshots at 1280x800 and 390x844 go to
--out. Exits 1 on the first failed check, 2 when Chromium or Selenium is missing.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    print("ERROR: python3-selenium is missing (scripts/test.sh installs it)", file=sys.stderr)
    sys.exit(2)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def wait_for(driver, script, what, timeout=15.0):
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script("return " + script)
        if value:
            return value
        if time.time() > deadline:
            fail(f"timed out waiting for {what} ({script})")
        time.sleep(0.1)


# Draws #video into a canvas and returns [mean luminance, a sample of the pixels].
GRAB = """
const img = document.getElementById('video');
const c = document.createElement('canvas');
c.width = 160; c.height = 120;
const g = c.getContext('2d');
g.drawImage(img, 0, 0, c.width, c.height);
const d = g.getImageData(0, 0, c.width, c.height).data;
let sum = 0; const sample = [];
for (let i = 0; i < d.length; i += 4) {
  sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
  if (i % 64 === 0) sample.push(d[i], d[i + 1], d[i + 2]);
}
return [sum / (d.length / 4), sample];
"""


def set_viewport(driver, width, height, mobile):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 3 if mobile else 1, "mobile": mobile},
    )


def shot(driver, out, name):
    path = os.path.join(out, name)
    driver.save_screenshot(path)
    print(f"screenshot {path}")


def check_library(driver, base, expect, out, suffix):
    driver.get(base + "/")
    wait_for(driver, "document.readyState === 'complete'", "the library page")
    # Lazy thumbnails load as they come into view: scroll through the page.
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    driver.execute_script("window.scrollTo(0, 0)")
    names = driver.execute_script(
        "return Array.from(document.querySelectorAll('.card .name')).map(e => e.textContent)")
    for name in expect:
        if name not in names:
            fail(f"the library does not list {name!r} (it lists {names})")
    loaded = wait_for(
        driver,
        "(() => { const imgs = Array.from(document.querySelectorAll('.card img'));"
        " imgs.forEach(i => i.loading = 'eager');"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0) && imgs.length })()",
        "every thumbnail to load")
    if loaded != len(names):
        fail(f"{loaded} thumbnails for {len(names)} cards")
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('.card')).map(a => a.getAttribute('href'))")
    if not all(h.startswith("/watch/") for h in hrefs):
        fail(f"cards must link to /watch/: {hrefs}")
    print(f"library ({suffix}): {len(names)} items, every thumbnail loaded")
    shot(driver, out, f"library-{suffix}.png")
    check_filter(driver, names, out, suffix)


def check_filter(driver, names, out, suffix):
    """Typing in the filter box leaves only the matching cards on screen (laid out, not just
    marked hidden), and a query nothing matches says so."""
    visible = ("return Array.from(document.querySelectorAll('.card'))"
               ".filter(c => c.getClientRects().length > 0).map(c => c.querySelector('.name').textContent)")
    box = driver.find_element(By.ID, "filter")
    query = names[0][:3].lower()
    box.send_keys(query)
    shown = driver.execute_script(visible)
    expected = [n for n in names if query in n.lower()]
    if sorted(shown) != sorted(expected):
        fail(f"filter {query!r}: on screen {shown}, expected {expected}")
    box.clear()
    box.send_keys("zzz-no-such-name")
    shown = driver.execute_script(visible)
    message = driver.execute_script(
        "const e = document.getElementById('empty'); return e.getClientRects().length > 0")
    if shown or not message:
        fail(f"filter with no match: on screen {shown}, 'Nothing matches.' shown: {message}")
    shot(driver, out, f"library-filtered-{suffix}.png")
    box.clear()
    box.send_keys(" ")  # an input event with an empty query: every card back
    if len(driver.execute_script(visible)) != len(names):
        fail("clearing the filter does not bring every card back")
    print(f"library ({suffix}): the filter narrows the cards by name")


def grab(driver):
    return driver.execute_script(GRAB)


def check_player(driver, base, movie, out, suffix, interact):
    driver.get(base + "/watch/" + movie)
    wait_for(driver, "document.getElementById('video').naturalWidth > 0", "the first frame")
    time.sleep(0.5)
    lum1, a = grab(driver)
    time.sleep(1.0)
    lum2, b = grab(driver)
    if a == b:
        fail("the picture did not change in a second: the stream is not moving")
    if lum1 < 8 or lum2 < 8:
        fail(f"the picture is black (mean luminance {lum1:.1f}, {lum2:.1f})")
    print(f"player ({suffix}): the picture moves (luminance {lum1:.0f} -> {lum2:.0f})")
    shot(driver, out, f"watch-{suffix}.png")
    if not interact:
        return
    body = driver.find_element(By.TAG_NAME, "body")
    src = lambda: driver.execute_script("return document.getElementById('video').getAttribute('src')")
    # Space pauses: the frame at the position is shown, and it stays.
    body.send_keys(Keys.SPACE)
    wait_for(driver, "document.getElementById('stage').classList.contains('is-paused')", "pause")
    if "/thumb/" not in src():
        fail(f"paused, the picture should be the frame at the position, not {src()}")
    wait_for(driver, "document.getElementById('video').complete", "the paused frame")
    time.sleep(0.3)
    p1 = grab(driver)[1]
    time.sleep(0.8)
    if grab(driver)[1] != p1:
        fail("the picture moved while paused")
    shot(driver, out, f"watch-paused-{suffix}.png")
    body.send_keys(Keys.SPACE)
    wait_for(driver, "!document.getElementById('stage').classList.contains('is-paused')", "resume")
    if "/mjpeg/" not in src():
        fail(f"resumed, the picture should be the stream again, not {src()}")
    # The arrows seek 5 s; the stream reopens at the new position.
    before = float(driver.execute_script("return document.getElementById('seek').value"))
    body.send_keys(Keys.ARROW_RIGHT)
    wait_for(driver, f"parseFloat(document.getElementById('seek').value) > {before + 3}", "seek forward")
    if "?t=" not in src():
        fail(f"a seek must reopen the stream at a position: {src()}")
    # The seek bar.
    driver.execute_script(
        "const s = document.getElementById('seek'); s.value = 2;"
        " s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));")
    wait_for(driver, "document.getElementById('video').getAttribute('src').includes('?t=2.000')",
             "the seek bar to reopen the stream at 2 s")
    # F: fullscreen, and F again leaves it.
    body.send_keys("f")
    wait_for(driver, "document.fullscreenElement && document.fullscreenElement.id === 'stage'",
             "fullscreen on F")
    time.sleep(0.5)
    shot(driver, out, f"watch-fullscreen-{suffix}.png")
    body.send_keys("f")
    wait_for(driver, "!document.fullscreenElement", "fullscreen to end on F")
    url = driver.execute_script("return document.getElementById('url').value")
    if not url.startswith("rtsp://") or not url.endswith(movie):
        fail(f"the RTSP URL to copy is {url!r}")
    print("player: Space pauses and resumes, arrows and the seek bar seek, F toggles fullscreen;"
          f" the URL to copy is {url}")


def check_file(driver, base, name, out, suffix):
    driver.get(base + "/watch/" + name)
    wait_for(driver, "document.getElementById('video').currentTime > 0.5", "the video file to play")
    driver.execute_script("document.getElementById('video').currentTime = 2.5")
    wait_for(driver, "document.getElementById('video').currentTime > 2.6", "the video file to seek")
    print(f"file ({suffix}): {name} plays in <video> and seeks")
    shot(driver, out, f"file-{suffix}.png")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--movie", required=True, help="an MJPEG movie to watch")
    ap.add_argument("--file", help="a browser video file (.mp4, .webm) to watch")
    ap.add_argument("--expect", default="", help="comma-separated names the library must list")
    args = ap.parse_args()
    if not CHROMIUM or not CHROMEDRIVER:
        print("ERROR: chromium and chromium-driver are missing (scripts/test.sh installs them)",
              file=sys.stderr)
        sys.exit(2)
    os.makedirs(args.out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="rtspd-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
              "--window-size=1280,800", f"--user-data-dir={profile}"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.set_page_load_timeout(30)
        expect = [n for n in args.expect.split(",") if n]
        for suffix, (w, h, mobile) in [("1280x800", (1280, 800, False)), ("390x844", (390, 844, True))]:
            set_viewport(driver, w, h, mobile)
            check_library(driver, args.url, expect, args.out, suffix)
            check_player(driver, args.url, args.movie, args.out, suffix, interact=not mobile)
            if args.file:
                check_file(driver, args.url, args.file, args.out, suffix)
        print("browser: all checks passed")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
