import sys

from mirage_desktop.cli import main

sys.exit(main())
