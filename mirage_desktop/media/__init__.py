"""Media files through PyAV (FFmpeg): what a file holds, and the sound that goes with the picture."""
