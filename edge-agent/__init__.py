"""Edge agent: reads a serial temperature sensor and serves ONNX Runtime forecasts over HTTP.

Subpackages: ``sensor_io`` (serial reader and simulator) and ``runtime`` (model store, registry
client and the Falcon app). Nothing here imports scikit-learn, pandas, SciPy or mlflow.
"""

__version__ = "0.1.0"
