"""Video input: probe, single-pass decode, clip sampling, test views, transforms, datasets, synthetic data.

Modules: :mod:`~zoo.data.probe` (per-video metadata: the frames ffmpeg presents), :mod:`~zoo.data.decode`
(frames by timestamp, upright), :mod:`~zoo.data.orientation` (display rotation), :mod:`~zoo.data.colour`
(YUV -> RGB rules), :mod:`~zoo.data.errors`
(refusals and warnings),
:mod:`~zoo.data.sampling` (VMZ clip positions), :mod:`~zoo.data.views` (multi-clip, multi-crop views and
training clips), :mod:`~zoo.data.transforms`, :mod:`~zoo.data.datasets` (folder layout, VMZ lists, Kinetics
CSVs), :mod:`~zoo.data.index` (metadata cache), :mod:`~zoo.data.encode` (PyAV writer),
:mod:`~zoo.data.synthetic` (the built-in motion dataset) and :mod:`zoo.data.prepare` (``zoo-prepare``).
"""
