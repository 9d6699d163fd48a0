"""Frozen entry point of the windowed `Mirage` executable."""

import sys

from mirage_desktop.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
