"""``python -m localregions.pipeline``: see :mod:`localregions.pipeline.cli`."""

from .cli import main

if __name__ == "__main__":
    main()
