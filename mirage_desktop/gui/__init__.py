"""The desktop window, on top of the engine. Only this package imports Qt widgets."""
