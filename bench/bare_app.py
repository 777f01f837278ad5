"""The ceiling for this stack: a bare Falcon + waitress + ONNX Runtime app with no checks.

It serves ``POST /predict`` with ``{"temperature_history": [...]}`` of exactly the model's
window and nothing else, so the gap between it and the agent is the cost of the agent's
validation, error handling, metrics and response fields. Run:
``python -m bench.bare_app MODEL.onnx PORT [THREADS]``.
"""

from __future__ import annotations

import sys

import falcon
import numpy as np
import onnxruntime as ort
from waitress import serve


class Predict:
    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        window = np.asarray([req.get_media()["temperature_history"]], dtype=np.float32)
        resp.media = {"predicted_temperature": float(self.session.run(None, {self.input_name: window})[0].ravel()[0])}


class Ready:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ready": True}


def main() -> None:
    model_path, port = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the agent's setting, so that both run the model alike
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    app = falcon.App()
    app.add_route("/predict", Predict(session))
    app.add_route("/ready", Ready())
    serve(app, host="127.0.0.1", port=port, threads=threads)


if __name__ == "__main__":
    main()
