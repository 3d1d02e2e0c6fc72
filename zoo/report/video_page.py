"""The one-video page of ``zoo-predict VIDEO --report PAGE``: the top classes, the protocol settings, a strip of
the views as the model received them and, for sliding windows, a timeline of the top classes' scores."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from zoo.report import page as P
from zoo.report.images import figure_png, timeline_figure

#: windows shown in the strip of a sliding-window page at most (evenly spread over the video)
MAX_STRIP_WINDOWS = 40


def evenly_spread(count: int, most: int) -> list[int]:
    """``most`` indices spread evenly over ``range(count)`` (all of them when there are fewer)."""
    if count <= most:
        return list(range(count))
    return sorted({int(round(i * (count - 1) / (most - 1))) for i in range(most)})


def video_page(video: str, top: Sequence[tuple[str, float]], settings: Mapping[str, object],
               frames: np.ndarray | None, timeline: tuple | None = None, classes: Sequence[str] = ()) -> str:
    """The HTML text of one video's page.

    ``top`` are (class, aggregated score) pairs; ``settings`` the protocol values shown; ``frames`` the middle
    frames ``(clips, crops, H, W, 3)`` of the views (or of the sliding windows, as ``(windows, 1, H, W, 3)``);
    ``timeline`` ``(start, end, scores)`` of sliding windows (``scores`` ``(windows, classes)``)."""
    rows = [P.row([P.number(i + 1, "{:d}"), P.cell(name), P.number(score, "{:.4f}")], P.data_attr("class", name))
            for i, (name, score) in enumerate(top)]
    parts = [P.table(["rank", "class", "score"], rows, attrs=' id="top"')]
    parts.append("<h3>Protocol</h3>")
    parts.append(P.table(["setting", "value"], [P.row([P.cell(k.replace("_", " ")), P.cell(P.shown(v))],
                                                      P.data_attr("field", k)) for k, v in settings.items()]))
    sections = [P.Section("prediction", "Prediction", "\n".join(parts))]
    if timeline is not None:
        start, end, scores = timeline
        sections.append(P.Section("timeline", "Timeline", P.image(
            figure_png(timeline_figure(start, end, scores, classes)),
            "scores of the top classes over the sliding windows") + P.paragraph(
            f"{len(start)} windows; each point is one window's softmax, at the window's centre.", "muted")))
    if frames is not None:
        shown = frames
        note = ""
        if timeline is not None and frames.shape[0] > MAX_STRIP_WINDOWS:
            keep = evenly_spread(frames.shape[0], MAX_STRIP_WINDOWS)
            shown = frames[keep]
            note = f" ({len(keep)} of the {frames.shape[0]} windows, evenly spread)"
        strip = P.strip_block(shown, "window" if timeline is not None else "clip", note)
        sections.append(P.Section("views", "Views", strip))
    return P.render(f"zoo-predict: {Path(video).name}", P.esc(video), sections)


def write_video_page(path: str | os.PathLike, *args, **kwargs) -> Path:
    """Write :func:`video_page` to ``path`` (atomic)."""
    return P.write_page(path, video_page(*args, **kwargs))


class MiddleFrameRecorder:
    """A predictor of uint8 views ``(N, T, H, W, 3)`` that also keeps the middle frame of every view it scores,
    in order: the views strip of a one-video page, taken from exactly what went into the model."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.frames: list[np.ndarray] = []

    @property
    def device(self):
        return self.predictor.device

    def __call__(self, views):
        out = self.predictor(views)        # kept only once scored (a pass retried after running out of memory)
        middle = views[:, views.shape[1] // 2]
        self.frames.append(np.array(middle.numpy() if hasattr(middle, "numpy") else middle))
        return out

    def middle_frames(self, crops: int) -> np.ndarray:
        """``(clips or windows, crops, H, W, 3)`` of everything recorded (views in clip-major order)."""
        frames = np.concatenate(self.frames)
        return frames.reshape(frames.shape[0] // crops, crops, *frames.shape[1:])
