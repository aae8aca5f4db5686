"""The avloc demo: upload a video (or an image and a sound) and see/hear what makes the sound.

``build_demo(pipeline)`` returns the ``gr.Blocks``; the handlers below are plain module-level
functions (paths and options in, paths and values out) that call :class:`avloc.Pipeline` and
:mod:`avloc.viz`, so tests call them directly. Everything the app writes goes under one
``tempfile.mkdtemp`` folder per app; nothing else is served.

Run it with ``avloc app`` or ``python -m app``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from avloc import media
from avloc.assets import assets_dir
from avloc.inference import LocalizationResult, Pipeline, place_name
from avloc.viz import (
    DEFAULT_COLORMAP,
    list_colormaps,
    map_thumbnails,
    overlay_size,
    write_overlay_video,
)

MAX_UPLOAD_MB = 100.0
MAX_DURATION_S = 60.0
MAX_SOURCES = 4  # audio players shown (most present objects first); the rest go to the residual
RESULTS_KEPT_S = 3600.0  # a run's files, and Gradio's copies of uploads, are deleted after this
MAX_EXTRA_MODELS = 2  # models other than the default kept loaded at once (memory)
MAX_REMEMBERED = 8  # analyses kept in memory for "Listen here" (maps at grid size: small)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# The separation menu: (shown label, avloc.masks rule).
MASK_RULE_CHOICES = [
    ("each object its own mask, the rest in the residual", "independent"),
    ("the objects split the sound (no residual)", "share"),
    ("each sound bin to one object", "winner"),
]


@dataclass
class AppSession:
    """What the handlers share: the loaded pipelines and the app's private output folder."""

    pipeline: Pipeline
    work_dir: Path
    default_model: str = "default"
    max_upload_mb: float = MAX_UPLOAD_MB
    max_duration_s: float = MAX_DURATION_S
    # Bundle paths typed into the model box; off when the app listens beyond this machine,
    # where a path would let anyone probe the server's files and fill its memory.
    allow_model_paths: bool = True
    results_kept_s: float = RESULTS_KEPT_S
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    # The last analyses, by (input path, model), so "Listen here" needs no second pass.
    localizations: dict[tuple[str, str], LocalizationResult] = field(default_factory=dict)

    def remember(self, path: str, model: str | None, result: LocalizationResult) -> None:
        """Keep ``path``'s analysis by ``model`` for :meth:`analysis`."""
        _keep_last(self.localizations, (path, model or self.default_model), result, MAX_REMEMBERED)

    def analysis(self, path: str, model: str | None) -> LocalizationResult | None:
        """The remembered analysis of ``path`` by ``model``, if it is still kept."""
        return self.localizations.get((path, model or self.default_model))

    def get_pipeline(self, model: str | None) -> Pipeline:
        """The pipeline for a model name or bundle path, loaded once and cached (the last
        :data:`MAX_EXTRA_MODELS` besides the default)."""
        if not model or model == self.default_model:
            return self.pipeline
        menu = model_choices(self.default_model)
        if not self.allow_model_paths and model not in menu:
            raise gr.Error(
                f"this app serves the models of its menu ({', '.join(menu)}); "
                f"{model!r} is not one of them"
            )
        if model not in self.pipelines:
            try:
                loaded = Pipeline.from_pretrained(
                    model, batch_size=self.pipeline.batch_size, precision=self.pipeline.precision
                )
            except (OSError, ValueError) as error:
                raise gr.Error(f"cannot load model {model!r}: {error}") from None
            _keep_last(self.pipelines, model, loaded, MAX_EXTRA_MODELS)
        return self.pipelines[model]

    def new_run_dir(self) -> Path:
        """A fresh folder for one run's files; runs older than ``results_kept_s`` are deleted,
        so a long-running app does not fill its disk."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - self.results_kept_s
        for old in self.work_dir.glob("run-*"):
            try:
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass  # removed meanwhile by another request
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.work_dir))


def _keep_last(cache: dict[Any, Any], key: Any, value: Any, most: int) -> None:
    """Put ``value`` at ``key`` as the newest entry; drop the oldest beyond ``most``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > most:
        cache.pop(next(iter(cache)))


def model_choices(default_model: str = "default") -> list[str]:
    """The model menu: the app's model, then the shipped bundles meant for use (not the
    untrained test bundle); a bundle path may also be typed when the app is local."""
    from avloc.pretrained import PRETRAINED

    shipped = [name for name, entry in sorted(PRETRAINED.items()) if not entry.for_tests]
    return _ordered([default_model, *shipped])


def example_videos() -> list[str]:
    """Demo clips shipped in ``assets/demo/`` (empty when none were generated yet)."""
    demo = assets_dir() / "demo"
    return [str(p) for p in sorted(demo.glob("*.mp4"))] if demo.is_dir() else []


def _check_size(path: Path, session: AppSession) -> None:
    size_mb = path.stat().st_size / 1e6
    if size_mb > session.max_upload_mb:
        raise gr.Error(
            f"{path.name} is {_over(size_mb, session.max_upload_mb)} MB; the demo accepts up to "
            f"{session.max_upload_mb:g} MB"
        )


def _over(value: float, limit: float) -> str:
    """``value`` with as many decimals as show it above ``limit`` (100.04, not 100.0)."""
    digits = 1
    while round(value, digits) <= limit and digits < 6:
        digits += 1
    return f"{value:.{digits}f}"


def _media_error(error: media.MediaError) -> gr.Error:
    """The error by the uploaded file's name (not the server's cache path)."""
    return gr.Error(f"{error.path.name}: {error.problem}")


def _wrong_box(path: Path) -> gr.Error | None:
    """A still image or a sound given as the video: say which box takes it."""
    try:
        info: media.MediaInfo | None = media.probe(path)
    except media.MediaError:
        info = None  # e.g. a PNG named .mp4: "zero duration"; it may still read as an image
    if info is not None and info.has_audio and not info.has_video:
        return gr.Error(
            f"{path.name} is a sound without pictures: open '…or an image and a sound' and "
            "give it with an image"
        )
    try:
        media.read_image(path)
    except (media.MediaError, OSError, ValueError):
        return None
    return gr.Error(
        f"{path.name} is a still image: open '…or an image and a sound' and give it with a sound"
    )


def prepare_input(
    session: AppSession, video: str | None, image: str | None, audio: str | None, run_dir: Path
) -> Path:
    """The uploaded video, or an image + sound turned into a still video, checked against limits.

    Raises:
        gr.Error: nothing uploaded, half of an image + sound, too large, too long, or
            unreadable media.
    """
    try:
        if video:
            path = Path(video)
            _check_size(path, session)
            try:
                info = media.probe(path)
                if not info.has_video:
                    raise media.NoVideoStreamError(path, "has no video stream; avloc needs a video")
                if info.duration_s <= 0:
                    raise media.EmptyMediaError(path, "has zero duration")
            except (media.NoVideoStreamError, media.EmptyMediaError) as error:
                raise _wrong_box(path) or _media_error(error) from None
            duration = info.duration_s
        elif image and audio:
            for item in (Path(image), Path(audio)):
                _check_size(item, session)
            duration = media.probe(audio).duration_s
            if duration > session.max_duration_s:
                raise gr.Error(_too_long(duration, session))
            path = _still_video(Path(image), Path(audio), run_dir, session.pipeline.fps)
        elif image:
            raise gr.Error(f"{Path(image).name} needs a sound to go with it: add one below it")
        elif audio:
            raise gr.Error(f"{Path(audio).name} needs an image to go with it: add one above it")
        else:
            raise gr.Error("upload a video, or an image together with an audio file")
    except media.MediaError as error:
        raise _media_error(error) from None
    if duration > session.max_duration_s:
        raise gr.Error(_too_long(duration, session))
    return path


# What a browser's <video> element plays, by container: (video codecs, audio codecs) as FFmpeg
# names them. Anything else (AVI, MPEG-4 Part 2, HEVC, PCM sound, ...) shows "not playable" in
# the upload box, so :func:`playable_preview` re-encodes it.
BROWSER_CODECS = {
    ".mp4": ({"h264"}, {"aac", "mp3"}),
    ".m4v": ({"h264"}, {"aac", "mp3"}),
    ".webm": ({"vp8", "vp9"}, {"opus", "vorbis"}),
}
PREVIEW_MAX_FPS = 30.0


def plays_in_browser(path: Path, info: media.MediaInfo) -> bool:
    """Whether a browser plays ``path`` (as :func:`media.probe` found it) as it is."""
    video_codecs, audio_codecs = BROWSER_CODECS.get(path.suffix.lower(), (set(), set()))
    return info.video_codec in video_codecs and (
        not info.has_audio or info.audio_codec in audio_codecs
    )


def playable_preview(session: AppSession, video: str | None) -> str | None:
    """The uploaded video as the upload box can play it: the file itself when a browser plays
    it, else an H.264/AAC mp4 of it (at most the overlay's size and 30 frames/s), which the
    analysis then reads too. A file that is unreadable, has no pictures, is too large or too
    long, or has no sound comes back as it is: "Find the sounds" says what is wrong with it,
    by the name it was uploaded with."""
    if not video:
        return video
    path = Path(video)
    try:
        _check_size(path, session)
        info = media.probe(path)
    except (gr.Error, media.MediaError, OSError):
        return video
    if (
        not (info.has_video and info.has_audio)
        or not 0 < info.duration_s <= session.max_duration_s
        or plays_in_browser(path, info)
    ):
        return video
    try:
        preview = _reencoded(path, info, session.new_run_dir())
    except (media.MediaError, OSError, ValueError):
        return video
    gr.Info(
        f"{path.name}: browsers do not play this file, so the box shows an H.264 copy of it, "
        "which the analysis reads"
    )
    return str(preview)


def _reencoded(path: Path, info: media.MediaInfo, run_dir: Path) -> Path:
    """``path`` as an H.264/AAC mp4 in ``run_dir``, named after it (its sound downmixed to
    mono, as the analysis hears it)."""
    fps = min(info.fps or PREVIEW_MAX_FPS, PREVIEW_MAX_FPS)
    size = overlay_size(info.height, info.width) if info.height and info.width else None
    chunks = media.iter_video(path, fps, size=size, hold_last=True)
    rate = info.sample_rate
    sound = media.read_audio(path, rate) if rate is not None else None
    frames = (chunk.frames for chunk in chunks)
    return media.write_video(
        run_dir / f"{path.stem}.mp4", frames, fps, audio=sound, sample_rate=rate
    )


def _too_long(duration: float, session: AppSession) -> str:
    return (
        f"the clip lasts {_over(duration, session.max_duration_s)} s; the demo accepts up to "
        f"{session.max_duration_s:g} s"
    )


def _still_video(image: Path, audio: Path, run_dir: Path, fps: float) -> Path:
    """An mp4 showing ``image`` for the length of ``audio`` (so every input is a video)."""
    picture = media.read_image(image)
    height, width = overlay_size(*picture.shape[:2])
    import cv2

    picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
    sound = media.read_audio(audio, 22050)
    num_frames = max(1, int(np.ceil(len(sound) / 22050 * fps)))
    frames = (picture for _ in range(num_frames))
    return media.write_video(run_dir / "input.mp4", frames, fps, audio=sound, sample_rate=22050)


def _gallery(
    path: Path, result: LocalizationResult, colormap: str, opacity: float
) -> list[tuple[np.ndarray, str]]:
    """One thumbnail per object, on the frame where it is most present; or the overall map."""
    if not result.objects:
        index = int(np.argmax(result.heatmaps.reshape(len(result.heatmaps), -1).max(1)))
        frame = _frame_at(path, float(result.times_s[index]))
        (thumb,) = map_thumbnails(
            frame, result.heatmaps[index][None], colormap=colormap, opacity=opacity
        )
        return [(thumb, "all sound (no separate object found)")]
    items = []
    for k, obj in enumerate(result.objects):
        index = int(np.argmax(result.class_presence[:, obj.class_index]))
        frame = _frame_at(path, float(result.times_s[index]))
        maps = result.class_maps[index, obj.class_index][None]
        (thumb,) = map_thumbnails(frame, maps, colormap=colormap, opacity=opacity)
        caption = f"{obj.label} · presence {obj.presence:.2f} · {obj.loudness_db:.0f} dBFS"
        if k >= MAX_SOURCES:
            caption += " · its sound is in the residual"
        items.append((thumb, caption))
    return items


def _frame_at(path: Path, t_s: float) -> np.ndarray:
    info = media.probe(path)
    size = overlay_size(int(info.height or 2), int(info.width or 2))
    frames = media.read_video(
        path, fps=8.0, size=size, start_s=t_s, duration_s=0.125, hold_last=True
    ).frames
    return frames[0] if len(frames) else np.zeros((*size, 3), np.uint8)


def analyze(
    session: AppSession,
    video: str | None,
    image: str | None,
    audio: str | None,
    model: str | None,
    colormap: str,
    opacity: float,
    smoothing: float,
    mask_rule: str = "independent",
    flip: bool = False,
    progress: Callable[..., Any] | None = None,
) -> tuple[Any, ...]:
    """Localise and separate: overlay video, object gallery, frame to click, stems.

    ``mask_rule`` says how the objects share the sound (:data:`MASK_RULE_CHOICES`); ``flip``
    also looks at each frame's mirror image (``Pipeline(flip=True)``: sharper object maps, twice
    the time); ``progress(fraction, desc=...)`` (a ``gr.Progress``) hears how far the maps are.
    A run that fails leaves no files behind.

    Returns:
        ``(overlay_path, gallery, frame_path, input_path, residual_player, *source_players)``.
    """
    run_dir = session.new_run_dir()
    with _removed_on_failure(run_dir):
        path = prepare_input(session, video, image, audio, run_dir)
        pipeline = session.get_pipeline(model)
        try:
            pipeline = pipeline.with_mask_rule(mask_rule)
        except ValueError as error:
            raise gr.Error(f"unknown mask rule: {error}") from None
        pipeline = pipeline.with_flip(flip)
        try:
            result = pipeline.localize(path, _frame_counter(path, pipeline.fps, progress))
            session.remember(str(path), model, result)
            overlay = write_overlay_video(
                run_dir / "overlay.mp4", path, result, colormap, opacity, smoothing
            )
            separation = pipeline.separate(path, localization=result)
        except media.MediaError as error:
            raise _media_error(error) from None
        frame_path = media.write_image(
            run_dir / "frame.png", _frame_at(path, result.duration_s / 2)
        )
        players = []
        for i in range(MAX_SOURCES):
            if i < len(separation.labels):
                wav = media.write_audio(
                    run_dir / f"source_{i}.wav", separation.sources[i], separation.sample_rate
                )
                players.append(gr.Audio(value=str(wav), label=separation.labels[i], visible=True))
            else:
                players.append(gr.Audio(value=None, visible=False))
        # The objects past the players' count are not lost: their sound joins the residual.
        rest = separation.residual + separation.sources[MAX_SOURCES:].sum(axis=0)
        residual = media.write_audio(run_dir / "residual.wav", rest, separation.sample_rate)
        gallery = _gallery(path, result, colormap, opacity)
        return (str(overlay), gallery, str(frame_path), str(path), str(residual), *players)


@contextlib.contextmanager
def _removed_on_failure(folder: Path) -> Iterator[None]:
    """Delete ``folder`` if the block fails, so a refused or failed run leaves nothing."""
    try:
        yield
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _frame_counter(
    path: Path, fps: float, progress: Callable[..., Any] | None
) -> Callable[[int], None] | None:
    """A ``localize`` progress callback that reports the fraction of frames done."""
    if progress is None:
        return None
    total = max(1.0, media.probe(path).duration_s * fps)
    done = 0

    def update(frames: int) -> None:
        nonlocal done
        done += frames
        progress(min(done / total, 1.0), desc="finding the sounds")

    return update


def listen_at(
    session: AppSession,
    input_path: str | None,
    model: str | None,
    x: float,
    y: float,
    region: float = 0.0,
) -> str:
    """The sound at normalised ``(x, y)`` of the analysed clip, as a wav path; with ``region``
    > 0, the sound of the square around it, ``region`` of the frame's width and height wide
    (cut at the frame's edges): :meth:`Pipeline.separate_at` with that box.

    Raises:
        gr.Error: nothing analysed yet, a point outside [0, 1]², or a region outside [0, 1].
    """
    if not input_path:
        raise gr.Error("analyse a clip first, then click on its frame")
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise gr.Error(f"the point must be normalised to [0, 1]; got ({x}, {y})")
    if not (0.0 <= region <= 1.0):
        raise gr.Error(f"the region must be a fraction of the frame in [0, 1]; got {region}")
    if not Path(input_path).is_file():
        raise gr.Error(
            f"this clip's files were deleted (the app keeps them {session.results_kept_s / 60:g} "
            "minutes): analyse it again"
        )
    pipeline = session.get_pipeline(model)
    analysed = session.analysis(input_path, model)
    half = region / 2
    box = (max(x - half, 0.0), max(y - half, 0.0), min(x + half, 1.0), min(y + half, 1.0))
    try:
        if box[0] < box[2] and box[1] < box[3]:
            wave = pipeline.separate_at(input_path, box=box, localization=analysed)
            name = place_name(box=box)
        else:
            wave = pipeline.separate_at(input_path, (x, y), localization=analysed)
            name = place_name((x, y))
    except media.MediaError as error:
        raise _media_error(error) from None
    out = session.new_run_dir() / f"{name}.wav"
    return str(media.write_audio(out, wave, pipeline.sample_rate))


def frame_click(frame_path: str | None, evt: gr.SelectData) -> tuple[float, float]:
    """Pixel clicked on the frame → normalised ``(x, y)``."""
    if not frame_path:
        raise gr.Error("analyse a clip first, then click on its frame")
    height, width = media.read_image(frame_path).shape[:2]
    px, py = evt.index
    return (
        round(min(max(px / max(width - 1, 1), 0.0), 1.0), 3),
        round(min(max(py / max(height - 1, 1), 0.0), 1.0), 3),
    )


def build_demo(
    pipeline: Pipeline,
    work_dir: Path | None = None,
    default_model: str = "default",
    allow_model_paths: bool = True,
) -> gr.Blocks:
    """The Gradio app around a loaded pipeline.

    Args:
        pipeline: the default model's pipeline.
        work_dir: the app's private output folder (default: a fresh ``tempfile.mkdtemp``).
        default_model: the name ``pipeline`` was loaded from (shown first in the model menu).
        allow_model_paths: let the model box take bundle paths (only the menu's names
            otherwise: for an app others can reach).
    """
    work = work_dir or Path(tempfile.mkdtemp(prefix="avloc-app-"))
    session = AppSession(pipeline, work, default_model, allow_model_paths=allow_model_paths)
    kept = int(session.results_kept_s)
    with gr.Blocks(title="avloc — what makes the sound?", delete_cache=(kept, kept)) as demo:
        gr.Markdown(
            "# avloc: what makes the sound?\nUpload a video (or an image and a sound). avloc "
            "paints where the sound comes from, lists the sounding objects and separates their "
            "sounds. Click on the frame to hear the sound from that place (or from the square "
            "around it)."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="video", sources=["upload"], elem_id="upload")
                with gr.Accordion("…or an image and a sound", open=False):
                    image = gr.Image(label="image", type="filepath", sources=["upload"])
                    audio = gr.Audio(label="sound", type="filepath", sources=["upload"])
                model = gr.Dropdown(
                    model_choices(default_model),
                    value=default_model,
                    label="model (name or bundle path)" if allow_model_paths else "model",
                    allow_custom_value=allow_model_paths,
                )
                colormap = gr.Dropdown(list_colormaps(), value=DEFAULT_COLORMAP, label="colormap")
                opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="overlay opacity")
                smoothing = gr.Slider(0.0, 0.95, value=0.5, step=0.05, label="temporal smoothing")
                mask_rule = gr.Radio(
                    MASK_RULE_CHOICES, value="independent", label="how the objects share the sound"
                )
                flip = gr.Checkbox(
                    value=False,
                    label="also look at each frame's mirror image (sharper object maps, twice "
                    "the time)",
                )
                run = gr.Button("Find the sounds", variant="primary")
                examples = example_videos()
                if examples:
                    gr.Examples(examples, inputs=[video])
            with gr.Column():
                overlay = gr.Video(label="heatmap overlay", elem_id="overlay", autoplay=True)
                gallery = gr.Gallery(label="sounding objects", columns=4, height="auto")
                sources = [  # each object's sound, then what is left of the mixture
                    gr.Audio(type="filepath", visible=False, elem_classes="source")
                    for _ in range(MAX_SOURCES)
                ]
                residual = gr.Audio(label="residual (everything else)", type="filepath")
        with gr.Row():
            frame = gr.Image(
                label="click to hear that place",
                type="filepath",
                interactive=False,
                elem_id="frame",
            )
            with gr.Column():
                x = gr.Number(label="x (0 = left, 1 = right)", value=0.5, minimum=0, maximum=1)
                y = gr.Number(label="y (0 = top, 1 = bottom)", value=0.5, minimum=0, maximum=1)
                region = gr.Slider(
                    0.0,
                    1.0,
                    value=0.0,
                    step=0.05,
                    label="listen to the square around it (fraction of the frame; 0: the point)",
                )
                listen = gr.Button("Listen here")
                point_audio = gr.Audio(
                    label="sound from that place", type="filepath", elem_id="point-audio"
                )
        input_state = gr.State(None)

        def analyze_with_progress(*inputs: Any, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
            return analyze(session, *inputs, progress=progress)

        video.upload(
            functools.partial(playable_preview, session),
            inputs=[video],
            outputs=[video],
            api_name="playable_preview",
        )
        run.click(
            analyze_with_progress,
            inputs=[video, image, audio, model, colormap, opacity, smoothing, mask_rule, flip],
            outputs=[overlay, gallery, frame, input_state, residual, *sources],
            api_name="analyze",
        )
        frame.select(frame_click, inputs=[frame], outputs=[x, y], api_name="frame_click").then(
            functools.partial(listen_at, session),
            inputs=[input_state, model, x, y, region],
            outputs=[point_audio],
            api_name="listen_after_click",
        )
        listen.click(
            functools.partial(listen_at, session),
            inputs=[input_state, model, x, y, region],
            outputs=[point_audio],
            api_name="listen_at",
        )
    demo.avloc_work_dir = work  # type: ignore[attr-defined]
    return demo


def _ordered(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def main(model: str = "default", host: str = "127.0.0.1", port: int | None = None) -> None:
    """Load the model once and serve the app until interrupted (Ctrl-C or SIGTERM).

    Everything it writes, Gradio's copies of the uploads included, goes under one private
    folder, deleted on exit.
    """
    pipeline = Pipeline.from_pretrained(model)
    work = Path(tempfile.mkdtemp(prefix="avloc-app-"))
    # Gradio keeps uploads in a folder shared by every Gradio app (/tmp/gradio) and never
    # empties it; this app's go under its own folder instead, unless the user chose one.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work / "gradio"))
    demo = build_demo(pipeline, work, default_model=model, allow_model_paths=host in LOOPBACK_HOSTS)
    # SIGTERM (docker stop, systemd, kill) ends the app as Ctrl-C does, clean-up included.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        demo.queue(default_concurrency_limit=1).launch(
            server_name=host,
            server_port=port,
            allowed_paths=[str(work)],
            theme=gr.themes.Soft(),
            max_file_size=int(MAX_UPLOAD_MB * 1e6),  # refused while uploading, not after
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
