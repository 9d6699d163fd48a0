"""ONNX Runtime plumbing: picking execution providers and creating sessions."""
