"""Small ONNX models with the exact input/output contracts of the real face models, for tests and benchmarks.

The real weights cannot be shipped or downloaded in CI, so these stand-ins compute real answers
from their inputs through the same code paths. They need the ``onnx`` package (a dev dependency),
imported only when a model is built.
"""
