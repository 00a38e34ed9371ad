"""The course's shared sample choices: one photo, one painting, one clip and one size.

Every notebook uses these unless a section says why not (notebook 01's flicker section, for
example, wants a nearly still shot). Changing them here changes every chapter at once; the
notation table that goes with them is ``notebooks/NOTATION.md``.

>>> frame_size(smoke=True), frame_size(smoke=False)
(64, 256)
>>> CLIP_START + (clip_frames(smoke=False) - 1) * CLIP_EVERY <= CLIP_LAST_STILL_FRAME
True
"""

from __future__ import annotations

PHOTO = "chelsea"  # scikit-image's orange cat (public domain): `vstlib.data.content_photo(PHOTO)`
STYLE = "starry_night_vangogh"  # Van Gogh, The Starry Night: a blue painting, colour shifts show
CLIP = "video/sintel_640x360_10s.mp4"  # CC-BY Blender Foundation, computer-animated
CLIP_START = 10  # first frame used
CLIP_EVERY = 2  # every 2nd frame: 12 fps, twice the motion per step
CLIP_LAST_STILL_FRAME = 57  # frames 10..57 hold one shot (no cut)
SINTEL_SCENE = "alley_1"  # MPI-Sintel frames with ground-truth flow (`vstlib.data.sintel_pair`)


def frame_size(smoke: bool) -> int:
    """Longer side of images and frames, pixels: thumbnails in smoke mode (CI on a CPU)."""
    return 64 if smoke else 256


def clip_frames(smoke: bool) -> int:
    """Number of clip frames a chapter stylizes: 1 s at 12 fps in full mode."""
    return 4 if smoke else 12
