"""The engine: owns the capture, processing and output threads and the metrics.

It never imports the GUI; the GUI listens to it through plain callbacks.
"""
