"""Where Mirage keeps its files, and the typed settings it runs with."""
