"""Shared constants of the trainer tests (imported by module name, not from conftest)."""

#: a tiny R(2+1)D on 4-frame 32-pixel clips: a training step takes a few hundredths of a second
TINY = ["--model", "r2plus1d_10", "--model-option", "channel_multiplier=0.125", "--clip-len", "4",
        "--frame-rate", "0", "--train-resize-size", "36", "48", "--train-crop-size", "32",
        "--val-resize-size", "36", "48", "--val-crop-size", "32", "--val-clips-per-video", "1",
        "--threads", "1", "--no-progress"]
