"""The demo app: handlers called directly, and the served app through gradio_client."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

from app import app as demo_app  # noqa: E402
from avloc import media  # noqa: E402
from avloc.defaults import MASK_RULES  # noqa: E402
from avloc.inference import Pipeline  # noqa: E402
from tests.media_fixtures import make_audio_file, make_clip  # noqa: E402

MODEL = "avloc-tiny-test"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.from_pretrained(MODEL, precision="fp32", presence_threshold=0.0)


@pytest.fixture
def session(pipeline: Pipeline, tmp_path: Path) -> demo_app.AppSession:
    return demo_app.AppSession(pipeline, tmp_path / "work", default_model=MODEL)


def test_analyze_video(session: demo_app.AppSession, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.5, size=(48, 64))
    overlay, gallery, frame, state, residual, *players = demo_app.analyze(
        session, str(clip), None, None, MODEL, "jet", 0.6, 0.3
    )
    for path in (overlay, frame, residual):
        assert Path(path).is_file() and session.work_dir in Path(path).parents
    assert media.probe(overlay).has_audio
    assert len(gallery) >= 1 and gallery[0][0].ndim == 3
    assert state == str(clip)
    shown = [p for p in players if p.visible]
    assert 1 <= len(shown) <= demo_app.MAX_SOURCES
    assert all(
        Path(p.value["path"] if isinstance(p.value, dict) else p.value).is_file() for p in shown
    )
    sound = demo_app.listen_at(session, state, MODEL, 0.25, 0.75)
    assert Path(sound).is_file() and session.work_dir in Path(sound).parents


def test_listening_to_a_region_separates_the_square_around_the_point(
    session: demo_app.AppSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.0, size=(48, 64))
    state = demo_app.analyze(session, str(clip), None, None, MODEL, "jet", 0.6, 0.3)[3]
    asked: list[dict] = []
    real = Pipeline.separate_at

    def spy(self: Pipeline, *args: object, **kwargs: object) -> np.ndarray:
        asked.append({"args": args[1:], "box": kwargs.get("box")})
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Pipeline, "separate_at", spy)
    sound = demo_app.listen_at(session, state, MODEL, 0.5, 0.9, 0.4)  # cut at the bottom edge
    assert Path(sound).name == "box_0.30_0.70_0.70_1.00.wav" and Path(sound).is_file()
    assert asked[-1]["box"] == pytest.approx((0.3, 0.7, 0.7, 1.0))
    point = demo_app.listen_at(session, state, MODEL, 0.5, 0.9, 0.0)
    assert Path(point).name == "point_0.50_0.90.wav" and asked[-1] == {
        "args": ((0.5, 0.9),),
        "box": None,
    }
    with pytest.raises(gr.Error, match="region must be"):
        demo_app.listen_at(session, state, MODEL, 0.5, 0.5, 1.5)


def test_mask_rule_decides_what_stays_in_the_residual(
    session: demo_app.AppSession, tmp_path: Path
) -> None:
    assert [rule for _, rule in demo_app.MASK_RULE_CHOICES] == list(MASK_RULES)
    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.5, size=(48, 64))
    energy = {}
    for rule in ("independent", "share"):
        outputs = demo_app.analyze(session, str(clip), None, None, MODEL, "jet", 0.6, 0.3, rule)
        residual = outputs[4]
        energy[rule] = float(np.mean(media.read_audio(residual, 11025) ** 2))
    # Shared masks sum to one wherever an object sounds: (almost) nothing is left over.
    assert energy["share"] < 0.05 * energy["independent"]
    assert session.pipeline.mask_rule == "independent"  # the session's pipeline is unchanged
    with pytest.raises(gr.Error, match="unknown mask rule"):
        demo_app.analyze(session, str(clip), None, None, MODEL, "jet", 0.6, 0.3, "loudest")


def test_mirror_image_look_is_the_pipelines_flip_for_this_run_only(
    session: demo_app.AppSession, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.0, size=(48, 64))
    heatmaps = {}
    for flip in (False, True):
        state = demo_app.analyze(
            session, str(clip), None, None, MODEL, "jet", 0.6, 0.3, "independent", flip
        )[3]
        remembered = session.analysis(state, MODEL)
        assert remembered is not None
        heatmaps[flip] = remembered.heatmaps
    expected = session.pipeline.with_flip(True).localize(clip).heatmaps
    np.testing.assert_allclose(heatmaps[True], expected, atol=1e-6)
    assert not np.allclose(heatmaps[True], heatmaps[False], atol=1e-4)
    assert session.pipeline.flip is False  # the session's pipeline is unchanged


def test_analyze_image_and_sound(session: demo_app.AppSession, tmp_path: Path) -> None:
    image = media.write_image(tmp_path / "pic.png", np.full((40, 60, 3), 120, np.uint8))
    sound = make_audio_file(tmp_path / "tone.wav", "pcm_s16le", duration_s=1.0)
    overlay, _, _, state, *_ = demo_app.analyze(
        session, None, str(image), str(sound), None, "inferno", 0.5, 0.0
    )
    info = media.probe(overlay)
    assert info.has_video and info.has_audio and 0.8 < info.duration_s < 1.5
    assert Path(state).parent.parent == session.work_dir


def test_limits_and_bad_input_give_clear_errors(
    session: demo_app.AppSession, tmp_path: Path
) -> None:
    with pytest.raises(gr.Error, match="upload a video"):
        demo_app.analyze(session, None, None, None, None, "inferno", 0.5, 0.0)
    clip = make_clip(tmp_path / "long.mp4", duration_s=2.0, size=(32, 32))
    session.max_duration_s = 1.0
    with pytest.raises(gr.Error, match="up to 1 s"):
        demo_app.analyze(session, str(clip), None, None, None, "inferno", 0.5, 0.0)
    session.max_upload_mb = 1e-6
    with pytest.raises(gr.Error, match="MB"):
        demo_app.analyze(session, str(clip), None, None, None, "inferno", 0.5, 0.0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"junk" * 100)
    session.max_upload_mb, session.max_duration_s = 100.0, 60.0
    with pytest.raises(gr.Error, match=r"junk\.mp4"):
        demo_app.analyze(session, str(junk), None, None, None, "inferno", 0.5, 0.0)
    with pytest.raises(gr.Error, match="cannot load model"):
        demo_app.analyze(
            session, str(clip), None, None, "/no/such/model.safetensors", "inferno", 0.5, 0.0
        )
    with pytest.raises(gr.Error, match="analyse a clip first"):
        demo_app.listen_at(session, None, None, 0.5, 0.5)


def test_objects_past_the_players_go_to_the_residual(
    session: demo_app.AppSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.0, size=(32, 32))
    real = Pipeline.separate
    count = demo_app.MAX_SOURCES + 2

    def more_objects(self: Pipeline, video: object, localization: object = None) -> object:
        out = real(self, video, localization=localization)  # type: ignore[arg-type]
        n = out.sources.shape[1]
        sources = np.stack([np.full(n, 0.01 * (k + 1), np.float32) for k in range(count)])
        residual = out.mixture - sources.sum(0)
        labels = tuple(f"object {k}" for k in range(count))
        return dataclasses.replace(out, sources=sources, labels=labels, residual=residual)

    monkeypatch.setattr(Pipeline, "separate", more_objects)
    outputs = demo_app.analyze(session, str(clip), None, None, MODEL, "jet", 0.6, 0.3)
    players = [p for p in outputs[5:] if p.visible]
    assert len(players) == demo_app.MAX_SOURCES
    heard = sum(media.read_audio(p.value if isinstance(p.value, str) else p.value["path"], 11025)
                for p in players) + media.read_audio(outputs[4], 11025)  # fmt: skip
    mixture = real(session.pipeline, str(clip)).mixture
    # players and residual add back to the mixture: no object's sound is dropped
    assert np.abs(heard - mixture).max() < 2e-3


def test_wrong_box_half_inputs_and_failed_runs_leave_nothing(
    session: demo_app.AppSession, tmp_path: Path
) -> None:
    picture = media.write_image(tmp_path / "pic.png", np.full((40, 60, 3), 120, np.uint8))
    sound = make_audio_file(tmp_path / "tone.wav", "pcm_s16le", duration_s=1.0)
    renamed = tmp_path / "pic_as_video.mp4"
    renamed.write_bytes(picture.read_bytes())
    cases = [
        ((str(picture), None, None), "pic.png is a still image"),
        ((str(renamed), None, None), "pic_as_video.mp4 is a still image"),
        ((str(sound), None, None), "tone.wav is a sound without pictures"),
        ((None, str(picture), None), "pic.png needs a sound"),
        ((None, None, str(sound)), "tone.wav needs an image"),
    ]
    for (video, image, audio), message in cases:
        with pytest.raises(gr.Error, match=message):
            demo_app.analyze(session, video, image, audio, None, "jet", 0.5, 0.0)
    cache = tmp_path / "gradio" / "0123abcd"  # where Gradio keeps an upload
    cache.mkdir(parents=True)
    junk = cache / "junk.mp4"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(gr.Error) as info:
        demo_app.analyze(session, str(junk), None, None, None, "jet", 0.5, 0.0)
    assert str(info.value.message).startswith("junk.mp4: ") and str(cache) not in info.value.message
    assert list(session.work_dir.glob("run-*")) == []  # no empty folder per refused upload


def test_old_runs_are_deleted_and_their_clip_asked_again(
    session: demo_app.AppSession, tmp_path: Path
) -> None:
    import os
    import time

    old = session.new_run_dir()
    (old / "overlay.mp4").write_bytes(b"x")
    past = time.time() - 2 * session.results_kept_s
    os.utime(old, (past, past))
    fresh = session.new_run_dir()
    assert not old.exists() and fresh.is_dir()
    with pytest.raises(gr.Error, match=r"files were deleted .* analyse it again"):
        demo_app.listen_at(session, str(old / "input.mp4"), None, 0.5, 0.5)


def test_an_app_others_can_reach_serves_only_its_menu(pipeline: Pipeline, tmp_path: Path) -> None:
    assert demo_app.model_choices("default") == ["default"]  # the test bundle is not offered
    public = demo_app.AppSession(pipeline, tmp_path / "work", "default", allow_model_paths=False)
    with pytest.raises(gr.Error, match="serves the models of its menu"):
        public.get_pipeline("/etc/passwd")
    local = demo_app.AppSession(pipeline, tmp_path / "work", "default")
    with pytest.raises(gr.Error, match="cannot load model '/etc/passwd'"):
        local.get_pipeline("/etc/passwd")


def test_a_video_browsers_cannot_play_is_reencoded_for_the_upload_box(
    session: demo_app.AppSession, tmp_path: Path
) -> None:
    """An AVI (MPEG-4 Part 2 pictures, PCM sound) shows "not playable" in the upload box: its
    preview, which the analysis then reads, is an H.264/AAC mp4 of the same length and size.
    Files a browser plays, and files the run will refuse, come back as they are."""
    avi = make_clip(
        tmp_path / "clip.avi",
        video_codec="mpeg4",
        audio_codec="pcm_s16le",
        duration_s=1.5,
        size=(48, 64),
    )
    assert not demo_app.plays_in_browser(avi, media.probe(avi))
    preview = Path(demo_app.playable_preview(session, str(avi)) or "")
    assert preview.name == "clip.mp4" and session.work_dir in preview.parents
    info = media.probe(preview)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.height, info.width) == (48, 64) and abs(info.duration_s - 1.5) < 0.15
    assert demo_app.plays_in_browser(preview, info)
    overlay, *_ = demo_app.analyze(session, str(preview), None, None, MODEL, "jet", 0.6, 0.3)
    assert Path(overlay).is_file()

    mp4 = make_clip(tmp_path / "plays.mp4", duration_s=1.0, size=(32, 48))
    silent = make_clip(tmp_path / "silent.webm", video_codec="libvpx", audio_codec=None)
    silent_avi = make_clip(tmp_path / "silent.avi", video_codec="mpeg4", audio_codec=None)
    sound_only = make_audio_file(tmp_path / "sound.wav", "pcm_s16le")
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video at all")
    for kept in (mp4, silent, silent_avi, sound_only, broken):
        assert demo_app.playable_preview(session, str(kept)) == str(kept)
    session.max_duration_s = 1.0  # the AVI is now too long: "Find the sounds" will say so
    assert demo_app.playable_preview(session, str(avi)) == str(avi)
    assert demo_app.playable_preview(session, None) is None


def test_build_demo_has_named_endpoints(pipeline: Pipeline, tmp_path: Path) -> None:
    demo = demo_app.build_demo(pipeline, work_dir=tmp_path / "work", default_model=MODEL)
    names = {dep.api_name for dep in demo.fns.values()}
    assert {"analyze", "listen_at", "frame_click", "playable_preview"} <= names


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_served_app_through_gradio_client(pipeline: Pipeline, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.0, size=(32, 48))
    demo = demo_app.build_demo(pipeline, work_dir=tmp_path / "work", default_model=MODEL)
    port = _free_port()
    demo.queue(default_concurrency_limit=1).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        inputs = (handle_file(str(clip)), None, None, MODEL, "inferno", 0.5, 0.5, "share", True)
        out = client.predict(*inputs, api_name="/analyze")
        overlay = out[0]["video"] if isinstance(out[0], dict) else out[0]
        assert media.probe(overlay).has_video
        assert len(out[1]) >= 1  # gallery
        # the analysed clip is this client session's state, not a parameter
        region = client.predict(MODEL, 0.5, 0.5, 0.4, api_name="/listen_at")
        assert Path(region).name == "box_0.30_0.30_0.70_0.70.wav"
    finally:
        demo.close()


def test_sigterm_stops_the_app_and_removes_everything_it_wrote(tmp_path: Path) -> None:
    # docker stop / systemd / kill send SIGTERM: the app's folder, and Gradio's copies of the
    # uploads (kept under it rather than in the /tmp/gradio every Gradio app shares), go
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from gradio_client import Client, handle_file

    clip = make_clip(tmp_path / "clip.mp4", duration_s=1.0, size=(32, 48))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "avloc", "app", "--model", MODEL, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no app"
                time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(handle_file(str(clip)), None, None, MODEL, "inferno", 0.5, 0.5,
                       "independent", api_name="/analyze")  # fmt: skip
        (work,) = temp.glob("avloc-app-*")
        assert any((work / "gradio").rglob("clip.mp4"))  # the upload, in the app's own folder
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert list(temp.glob("avloc-app-*")) == []


def test_cli_loads_the_app_from_the_checkout() -> None:
    from avloc.cli.app import load_app_module

    module = load_app_module()
    assert callable(module.build_demo) and callable(module.main)


def test_limit_messages_never_read_as_the_limit_itself() -> None:
    assert demo_app._over(100.4, 100.0) == "100.4"
    assert demo_app._over(100.04, 100.0) == "100.04"
    assert demo_app._over(60.02, 60.0) == "60.02"
