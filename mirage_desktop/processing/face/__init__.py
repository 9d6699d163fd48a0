"""Face processing: detection, tracking, embedding, swapping and paste-back."""
