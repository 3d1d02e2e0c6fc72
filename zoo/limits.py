"""Upper bounds on the sizes, rates, counts and lengths a user or a file may ask for.

No real video, dataset or model comes near them; each keeps a typo or a forged value (``--frame-rate 1e9``,
metadata ``clip_len: 1000000``, a label of 2^31-1) from building a list of a billion frames, forking thousands
of processes or allocating gigabytes before anything is checked. The command-line types of :mod:`zoo.argtypes` and
the metadata checks of :mod:`zoo.records` use the same numbers. No imports: every parser may use this module.
"""
from __future__ import annotations

#: frames in one clip (``--clip-len``, ``--window``, checkpoint ``clip_len``); published models take 8-64
MAX_CLIP_LEN = 1024
#: take every N-th frame (``--sampling-rate``); a frame stride, so it can exceed the clip length
MAX_SAMPLING_RATE = 1024
#: frames per second (``--frame-rate``, ``trim --fps``, checkpoint ``frame_rate``); high-speed cameras reach 1000
MAX_FRAME_RATE = 1000.0
#: pixels on one side of a frame or crop (``--resize``, ``--crop-size``, ``--short-side``); 8K video is 7680
MAX_SIDE = 8192
#: clips or crops taken from one video (``--clips``, ``--clips-per-video``)
MAX_CLIPS = 1000
#: frames in one video, and a frame stride between windows
MAX_FRAMES = 10_000_000
#: seconds (durations, ``--stride-sec``, ``--min-duration``): about 11 days
MAX_SECONDS = 1_000_000.0
#: worker processes or codec threads
MAX_WORKERS = 256
#: clips, videos or windows in one batch
MAX_BATCH = 65_536
#: classes of a model or dataset (``--num-classes``, checkpoint ``num_classes``, labels, ``--topk``)
MAX_CLASSES = 100_000
#: characters in one class name
MAX_CLASS_NAME = 256
#: training epochs (and epoch numbers: milestones, warm-up)
MAX_EPOCHS = 100_000
#: any other count (``--limit``, steps, videos per class)
MAX_COUNT = 1_000_000_000
#: random seeds (numpy's legacy range)
MAX_SEED = 2 ** 32 - 1
#: any other real number a flag takes (learning rates, factors, timeouts in seconds)
MAX_REAL = 1_000_000.0
#: bytes of a memory budget (``--max-memory``): 1 PiB
MAX_MEMORY = 2 ** 50
#: elements of one tensor read from a legacy file (MiniDB dims, pickle shapes): 2^33 is not a weight
MAX_ELEMENTS = 2 ** 31
