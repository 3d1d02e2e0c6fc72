"""``python -m zoo.train`` (also ``torchrun ... -m zoo.train``)."""
from zoo.train.cli import main

raise SystemExit(main())
