"""Frozen entry point of the console `mirage-cli` executable."""

import multiprocessing
import sys

from mirage_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
