"""The defaults inference is calibrated with, shared by the library, the command line and the app.

Each value was chosen on tuning sets, never an evaluation set, as its comment says; the
experiments are in ``docs/findings.md``. This module imports nothing heavy, so that building
the command line's parser (which shows these defaults in its help) does not load torch.
"""

from __future__ import annotations

from typing import Literal, get_args

# --- Maps (avloc.maps) ---

# The published methods upsample 7x7 maps, which are smooth by construction; avloc's finer grids
# are not, and under the Flickr top-50 % rule a sharp peak leaves much of its object out. Chosen
# on a tuning set (seeds 21-23, never an evaluation set): docs/findings.md.
DEFAULT_MAP_SMOOTHING = 0.19
# Class maps: the same rule at a smaller sigma (the class-aware sets' objects are smaller than
# the Flickr layout's), with its halo (CLASS_MAP_HALO) chosen with it on the tuning sets: see
# there.
DEFAULT_CLASS_MAP_SMOOTHING = 0.08
# The halo's height as a fraction of the map's peak: below 1, so no halo cell can reach a peak.
# Heatmaps: with the Gaussian blur, on the tuning set, AP50 80.8 / 82.4 / 82.8 at 0.15 / 0.25 /
# 0.5 (80.0 with the halo's height left to the blur); but higher halos spill from a loud object
# onto its silent neighbours (at 0.5 the demo duet's silent accordion outshone its quieter
# sounding piano; tests/test_bundled_model.py). The heatmap's blur is now a box (below), whose
# flat top spills further at the same height: 0.15 is the highest halo that keeps the piano
# above the accordion, as 0.25 did with the Gaussian.
# Class maps are binarised at a fraction tau of their own peak: 0.1 for solos, 0.2 for duets,
# 0.5 for the grid, so a halo below tau adds nothing. Halo, sigma and CLASS_MAP_OFFSET were
# chosen together on tuning sets (solo, duet, grid) for the best mean CIoU@0.3: without the
# offset 0.65 / 0.08 gave 60 / 89 / 76; with it (-2) 0.9 / 0.08 gives 93 / 97 / 89. The sweep
# is benchmarks/tune_class_maps.py.
MAP_HALO = 0.15
CLASS_MAP_HALO = 0.9
# The halo's blur: a Gaussian, or a box (uniform) filter with the same standard deviation
# (half-width sqrt(3) sigma). Under the top-50 % rule the halo orders the cells around an
# object, and a box's square level sets take in the corners of its (square-ish) box that a
# Gaussian's discs leave out. On the five Flickr-layout tuning sets (Noto x2, Symbola,
# EmojiOne, FluidR3), AP50 87.2 / 85.2 / 79.3 / 60.7 / 67.3 with the Gaussian (halo 0.25),
# 87.6 / 86.0 / 81.3 / 62.0 / 68.7 with the box (halo 0.15), AUC higher on every set
# (docs/findings.md). Class maps keep the Gaussian their halo and sigma were chosen with.
MapKernel = Literal["gaussian", "box"]
MAP_KERNELS: tuple[str, ...] = get_args(MapKernel)
MAP_KERNEL: MapKernel = "box"
CLASS_MAP_KERNEL: MapKernel = "gaussian"
# Heatmaps are sigmoid(logit + MAP_OFFSET). Training fits the sigmoid's scale and bias to
# clip-level scores (the mean of the best 30 % of cells), so at single cells it saturates: an
# object's peak and its body all read ~1. A negative offset keeps the top of the map's shape
# (it nears exp(logit) below -4): on the Flickr-layout tuning sets (Noto x2, Symbola, EmojiOne,
# FluidR3) mean AP50 was 71.9 / 73.4 / 75.2 / 75.5 at 0 / -1 / -2 / -4, pointing within a
# point. But saturation is what lets a quiet source glow beside a loud one: at any negative
# offset the demo duet's quiet sounding piano gets less heat than the silent accordion beside
# it (tests/test_bundled_model.py). So the default keeps the calibrated maps
# (docs/findings.md).
MAP_OFFSET = 0.0
# Class maps are sigmoid(CAM + CLASS_MAP_OFFSET) times the class's presence. Each class map is
# its own, so no quiet source competes there, and the saturated CAMs spread each region far
# past its object: at tau 0.1 (solos) a region was most of the frame. Shifted, a region is the
# object's peak, and the taller halo (CLASS_MAP_HALO) fills the object out. Chosen together on
# the tuning sets (solo, duet, grid) by benchmarks/tune_class_maps.py: mean CIoU@0.3 75.0 at
# offset 0 (halo 0.65), 92.0-94.0 at -1.5 to -3 with halos 0.85-0.95 (docs/findings.md).
CLASS_MAP_OFFSET = -2.0
# The separator's vectors are pooled under the class maps with their logits shifted by this,
# before smoothing (:meth:`avloc.inference.Pipeline.source_vectors`). Mix-and-separate trains
# its separator on vectors pooled under the model's own class maps (offset 0), so 0 is what
# it expects. Until 2026-11-25 the regions shared CLASS_MAP_OFFSET: an earlier bundle scored
# 7.40 / 7.92 dB SDR at 0 / -2 on the tuning mixtures (seed 26), but the bundled one (run q3)
# scores 10.69 / 11.53 / 11.54 / 11.73 / 11.40 / 11.19 / 10.80 at -2 / -1 / -0.5 / 0 / 0.5 /
# 1 / 2, the gain at 0 over -2 mostly from mixtures where the shifted regions fail
# (docs/findings.md).
SOURCE_MAP_OFFSET = 0.0
# Heatmaps are weighted toward where the classes heard are seen (avloc.maps.guide_by_classes):
# map * (1 - CLASS_GUIDANCE + CLASS_GUIDANCE * guide), the guide being the presence-weighted
# class maps scaled to peak 1. On the six Flickr-layout tuning sets (Noto seed 21 and its
# distractor control, EmojiOne 31, FluidR3 32 and its distractor control, Csound 33), mean
# pointing / AP50 at 0 / 0.4 / 0.5 / 0.6 / 0.7 / 0.8 / 1: 85.3 / 75.0, 87.3 / 75.2, 87.7 / 75.2,
# 87.8 / 75.0, 88.1 / 74.2, 88.2 / 73.3, 88.3 / 66.3; 0.5 has the highest sum (pointing better
# on 31 images, worse on 6; the FluidR3 distractor control 75.3 against 69.3) (docs/findings.md).
CLASS_GUIDANCE = 0.5
# Where each source is seen in its own frames (Sound-of-Pixels' setting), inference looks for it
# twice: once hearing the mixture, as mix-and-separate trains, then, the mixture separated with
# those vectors, hearing its own estimate brought to the mixture's level; the two looks'
# vectors are averaged. A source's own sound finds it better than the mixture does (vectors
# pooled while only its stem plays score 3.5 dB higher: benchmarks/bench_separation_gap.py),
# and a first estimate is near it. On the tuning mixtures (seed 26) SDR 11.73 with one look, 12.50 refined
# (+0.78 [0.33, 1.25], 93 mixtures better, 51 worse, sign test p 6e-4); with the estimates at
# their own level 12.53 but 86 better, 75 worse; the second look alone 12.39
# (docs/findings.md).
REFINE_SOURCES = True

# A model sees an object best near the size it was trained at; in a 2x2 grid of scenes each
# object is half that. So frames are also looked at 1.5x larger and each map keeps, per cell,
# the higher of the two scales' values (peaks are kept, none is averaged away). Chosen on the
# tuning set (docs/findings.md).
DEFAULT_SCALES: tuple[float, ...] = (1.0, 1.5)

# --- Separation (avloc.masks) ---

# How the masks of the objects heard in one mixture combine (:func:`avloc.masks.combine_masks`).
MaskRule = Literal["independent", "share", "winner"]
MASK_RULES: tuple[str, ...] = get_args(MaskRule)

# --- Still images (avloc.inference) ---

# A still image's map hears the centre 3 s of its sound (EZ-VSL and its successors load that
# much for Flickr-SoundNet and VGG-SS), one model window at a time, and averages the maps: a
# single 1-s window can fall in a pause between notes. On the Flickr-layout tuning sets this
# raised AP50 by 3-6 points and pointing by 1-5 over the centre window alone
# (docs/findings.md).
IMAGE_AUDIO_S = 3.0
