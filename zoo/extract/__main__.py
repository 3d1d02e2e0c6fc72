"""``python -m zoo.extract`` (also under ``torchrun -m zoo.extract``): the ``zoo-extract`` tool."""
import sys

from zoo.extract.cli import main

if __name__ == "__main__":
    sys.exit(main())
