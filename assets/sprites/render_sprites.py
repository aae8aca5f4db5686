"""Re-render the bundled instrument sprites (run from the repository root).

Six drawing styles, each written as ``assets/sprites/<style>/<class>/<style>.png`` (RGBA,
cropped to the alpha bounding box, longest side at most 128 px):

- ``noto``: Noto Color Emoji glyphs (Debian ``fonts-noto-color-emoji``, SIL OFL 1.1), drawn with
  Pillow at the font's bitmap size 109 with ``embedded_color=True``. Every class.
- ``emojione``: EmojiOne 2 artwork (Debian ``ruby-gemojione``, CC-BY-SA 4.0), a differently drawn
  colour set, for the held-out "other drawing style" test. Only the classes EmojiOne 2 draws.
- ``symbola``: Symbola outline glyphs (Debian ``fonts-symbola``, free for any use) as black line
  drawings on a white fill: the ink is the glyph, the alpha is the ink with its holes filled.
  Only the classes Symbola has.
- ``openmoji``: OpenMoji 17 colour artwork (npm ``openmoji``, CC-BY-SA 4.0), flat colours with
  black outlines, rasterised from its SVGs with CairoSVG at 256 px. Every class.
- ``twemoji``: Twemoji 15 artwork (npm ``@twemoji/svg``, CC-BY 4.0), flat colours without
  outlines, rasterised like OpenMoji. Every class.
- ``fluent``: Microsoft Fluent Emoji, "Color" style (npm ``fluentui-emoji``, MIT), shaded
  gradients, rasterised like OpenMoji. Every class.

Usage::

    apt-get download ruby-gemojione fonts-symbola   # unpacked with
    dpkg-deb -x ruby-gemojione_*.deb /tmp/gemojione; dpkg-deb -x fonts-symbola_*.deb /tmp/symbola
    npm pack openmoji@17.0.0 && tar xzf openmoji-17.0.0.tgz -C /tmp   # and pip install cairosvg
    npm pack @twemoji/svg@15.0.0 fluentui-emoji@1.3.0   # unpacked into /tmp/twemoji, /tmp/fluent
    python assets/sprites/render_sprites.py \\
        --emojione-png /tmp/gemojione/usr/share/rubygems-integration/all/gems/gemojione-3.3.0/assets/png \\
        --symbola-ttf /tmp/symbola/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf \\
        --openmoji-svg /tmp/package/color/svg \\
        --twemoji-svg /tmp/twemoji/package --fluent-svg /tmp/fluent/package/icons/modern

A style whose source is not given or not found is skipped with a message.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

# class -> Unicode code point of its emoji (keep in sync with avloc/synth/instruments.py).
EMOJI: dict[str, int] = {
    "accordion": 0x1FA97,
    "acoustic_guitar": 0x1F3B8,
    "violin": 0x1F3BB,
    "trumpet": 0x1F3BA,
    "saxophone": 0x1F3B7,
    "flute": 0x1FA88,
    "drum": 0x1F941,
    "piano": 0x1F3B9,
    "banjo": 0x1FA95,
    "maracas": 0x1FA87,
    "long_drum": 0x1FA98,
}
# class -> file name of its Fluent Emoji artwork (named by description, not code point).
FLUENT_NAMES: dict[str, str] = {
    "accordion": "accordion",
    "acoustic_guitar": "guitar",
    "violin": "violin",
    "trumpet": "trumpet",
    "saxophone": "saxophone",
    "flute": "flute",
    "drum": "drum",
    "piano": "musical-keyboard",
    "banjo": "banjo",
    "maracas": "maracas",
    "long_drum": "long-drum",
}
NOTO_TTF = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
NOTO_SIZE = 109  # the only bitmap strike of the colour font
MAX_SIDE = 128
HERE = Path(__file__).resolve().parent


def crop_to_alpha(image: Image.Image) -> Image.Image:
    """Crop an RGBA image to its non-transparent pixels and shrink it to ``MAX_SIDE``."""
    box = image.getchannel("A").getbbox()
    if box is None:
        raise ValueError("the glyph rendered empty")
    image = image.crop(box)
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    return image


def has_glyph(font: ImageFont.FreeTypeFont, code: int) -> bool:
    """Whether ``font`` maps ``code`` (Pillow draws .notdef boxes otherwise)."""
    from fontTools.ttLib import TTFont

    return code in TTFont(font.path, fontNumber=0).getBestCmap()


def render_noto(code: int) -> Image.Image:
    font = ImageFont.truetype(str(NOTO_TTF), NOTO_SIZE)
    canvas = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((20, 20), chr(code), font=font, embedded_color=True)
    return crop_to_alpha(canvas)


def render_symbola(font: ImageFont.FreeTypeFont, code: int) -> Image.Image:
    canvas = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(canvas).text((20, 20), chr(code), font=font, fill=255)
    ink = np.asarray(canvas) > 96
    alpha = ndimage.binary_fill_holes(ndimage.binary_closing(ink, iterations=2))
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., :3] = np.where(ink[..., None], 20, 250).astype(np.uint8)
    rgba[..., 3] = np.where(alpha | ink, 255, 0).astype(np.uint8)
    return crop_to_alpha(Image.fromarray(rgba, "RGBA"))


def render_emojione(folder: Path, code: int) -> Image.Image | None:
    path = folder / f"{code:X}.png"
    if not path.is_file():
        return None
    return crop_to_alpha(Image.open(path).convert("RGBA"))


def render_svg(path: Path) -> Image.Image | None:
    """Rasterise one SVG at 256 px (None when the artwork set has no such file)."""
    if not path.is_file():
        return None
    import io

    import cairosvg  # only the SVG styles need it: pip install cairosvg

    png = cairosvg.svg2png(url=str(path), output_width=256, output_height=256)
    return crop_to_alpha(Image.open(io.BytesIO(png)).convert("RGBA"))


def render_openmoji(folder: Path, code: int) -> Image.Image | None:
    return render_svg(folder / f"{code:X}.svg")


def render_twemoji(folder: Path, code: int) -> Image.Image | None:
    return render_svg(folder / f"{code:x}.svg")


def render_fluent(folder: Path, code: int) -> Image.Image | None:
    name = FLUENT_NAMES[next(k for k, v in EMOJI.items() if v == code)]
    return render_svg(folder / f"{name}.svg")


def save(image: Image.Image, style: str, name: str) -> None:
    folder = HERE / style / name
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / f"{style}.png", optimize=True)
    print(f"{style}/{name}: {image.size[0]}x{image.size[1]}")


def render_from_files(
    folder: Path | None,
    style: str,
    flag: str,
    render: Callable[[Path, int], Image.Image | None],
) -> None:
    """Save ``style``'s sprite of every class its artwork folder (one file per code point) has."""
    if folder is None or not folder.is_dir():
        print(f"skipping {style}: pass {flag} (see the module docstring)")
        return
    for name, code in EMOJI.items():
        image = render(folder, code)
        if image is not None:
            save(image, style, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emojione-png", type=Path, default=None)
    parser.add_argument("--symbola-ttf", type=Path, default=None)
    parser.add_argument("--openmoji-svg", type=Path, default=None)
    parser.add_argument("--twemoji-svg", type=Path, default=None)
    parser.add_argument("--fluent-svg", type=Path, default=None)
    args = parser.parse_args()
    for name, code in EMOJI.items():
        save(render_noto(code), "noto", name)
    render_from_files(args.emojione_png, "emojione", "--emojione-png", render_emojione)
    if args.symbola_ttf is not None and args.symbola_ttf.is_file():
        font = ImageFont.truetype(str(args.symbola_ttf), 120)
        for name, code in EMOJI.items():
            if has_glyph(font, code):
                save(render_symbola(font, code), "symbola", name)
    else:
        print("skipping symbola: pass --symbola-ttf (see the module docstring)")
    render_from_files(args.openmoji_svg, "openmoji", "--openmoji-svg", render_openmoji)
    render_from_files(args.twemoji_svg, "twemoji", "--twemoji-svg", render_twemoji)
    render_from_files(args.fluent_svg, "fluent", "--fluent-svg", render_fluent)


if __name__ == "__main__":
    main()
