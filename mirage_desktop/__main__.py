import sys

from mirage_desktop.gui.app import main

sys.exit(main())
