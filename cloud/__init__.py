"""Cloud side: collects temperature data, tunes forecasters and publishes verified ONNX bundles to MLflow.

Subpackages: ``training`` (collector, search, export) and ``registry`` (versions, aliases and the
tracking server).
"""

__version__ = "0.1.0"
