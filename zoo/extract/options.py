"""The choices of ``zoo-extract``'s options, in a module without torch so that ``--help`` stays fast."""

#: ``--reduce``: what is done over the windows of one video
REDUCTIONS = ("none", "mean", "max")
#: ``--pool-spatial``: how spatial maps are pooled over H and W
POOL_SPATIAL = ("mean", "max")
#: ``--format``: file suffixes of the per-video outputs
FORMATS = (".safetensors", ".npy")
#: ``--backend``
BACKENDS = ("torch", "onnx")
