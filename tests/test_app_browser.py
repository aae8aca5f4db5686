"""The demo driven in a real browser (Debian chromium through Playwright).

Skipped when chromium is missing, unless ``AVLOC_REQUIRE_BROWSER=1`` (CI), then it fails.
Screenshots go to ``docs/images/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium")
    try:
        import gradio  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as error:
        path, missing = None, str(error)
    else:
        missing = "chromium is not on PATH (apt-get install chromium)"
    if path is None:
        if os.environ.get("AVLOC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (AVLOC_REQUIRE_BROWSER=1) but {missing}")
        pytest.skip(missing)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _app_page(model: str, work_dir: Path, **pipeline_options: Any) -> Iterator[Any]:
    """The app on ``model`` (a :class:`Pipeline` with ``pipeline_options``) served on a free
    port, open in headless chromium and ready (its run button drawn); closed afterwards."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    from app import app as demo_app
    from avloc.inference import Pipeline

    pipeline = Pipeline.from_pretrained(model, **pipeline_options)
    demo = demo_app.build_demo(pipeline, work_dir=work_dir, default_model=model)
    port = _free_port()
    demo.queue(default_concurrency_limit=1).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
            page.get_by_role("button", name="Find the sounds").wait_for(timeout=30_000)
            yield page
            browser.close()
    finally:
        demo.close()


def test_upload_run_and_play(tmp_path: Path) -> None:
    from avloc.assets import assets_dir

    # The bundled model on a bundled demo clip: the screenshots in the README come from here,
    # written to docs/images only when asked (AVLOC_UPDATE_DOCS_IMAGES=1), so that a test run
    # leaves the checkout as it was.
    shots = DOCS_IMAGES if os.environ.get("AVLOC_UPDATE_DOCS_IMAGES") == "1" else tmp_path
    clip = assets_dir() / "demo" / "duet.mp4"
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    with _app_page("default", tmp_path / "work") as page:
        page.locator("input[type=file]").first.set_input_files(str(clip))
        page.get_by_role("button", name="Find the sounds").click()
        video = page.locator("#overlay video")
        video.wait_for(state="attached", timeout=60_000)
        page.wait_for_function(
            "() => { const v = document.querySelector('#overlay video');"
            " return v && v.readyState >= 2; }",
            timeout=60_000,
        )
        page.evaluate(
            "() => { const v = document.querySelector('#overlay video'); v.muted = true; return v.play(); }"
        )
        page.wait_for_function(
            "() => document.querySelector('#overlay video').currentTime > 0.1", timeout=30_000
        )
        assert page.locator("audio").count() >= 2  # residual + at least one source
        # The picture for the docs: the overlay paused at 1 s, while the trumpet plays.
        page.evaluate(
            "() => new Promise(done => { const v = document.querySelector('#overlay video');"
            " v.pause(); v.addEventListener('seeked', () => done(true), {once: true});"
            " v.currentTime = 1.0; })"
        )
        page.screenshot(path=str(shots / "app_result.png"), full_page=True)
        page.locator("#frame img").click(position={"x": 3, "y": 3})  # top-left corner
        page.locator("#point-audio audio[src]").wait_for(state="attached", timeout=60_000)
        page.screenshot(path=str(shots / "app_point.png"), full_page=True)


def test_an_avi_upload_plays_in_the_upload_box(tmp_path: Path) -> None:
    """Chromium plays no AVI: the upload box shows the mp4 the app re-encodes it to, and says
    so. (The box's own "Video not playable" toast, from its first try at the AVI, still shows
    for a few seconds.)"""
    from tests.media_fixtures import make_clip

    avi = make_clip(tmp_path / "clip.avi", video_codec="mpeg4", audio_codec="pcm_s16le")
    with _app_page("avloc-tiny-test", tmp_path / "work", precision="fp32") as page:
        page.locator("#upload input[type=file]").set_input_files(str(avi))
        page.wait_for_function(
            "() => { const v = document.querySelector('#upload video');"
            " return v && v.src.includes('clip.mp4') && v.readyState >= 2; }",
            timeout=60_000,
        )
        page.get_by_text("clip.avi: browsers do not play this file").wait_for(timeout=10_000)
