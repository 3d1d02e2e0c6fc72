"""``zoo-train``: DDP training on Kinetics-style datasets (torchvision reference recipe, VMZ options).

Run as ``zoo-train``, ``python -m zoo.train`` or ``torchrun ... -m zoo.train``; see :mod:`zoo.train.cli`.
"""
