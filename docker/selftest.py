"""Check an agent image: open the bundled test model with ONNX Runtime and run one forecast.

Run inside the image (``docker run --rm IMAGE python /opt/edge-agent/selftest.py``). It reads the
bundle next to this file through the agent's own store and engine code, so it also checks that the
digest check, the reference outputs and the windowing work on the image's CPU architecture.
Prints one JSON line and exits 0 when the forecast matches the manifest, 1 otherwise.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import onnxruntime

from edge_agent.features import fit_history
from edge_agent.runtime.engine import Engine
from edge_agent.runtime.exceptions import AgentError
from edge_agent.runtime.store import read_bundle

BUNDLE_DIR = Path(__file__).resolve().parent / "selftest-bundle"


def main() -> int:
    """Run the check and print its result; return the exit status."""
    try:
        bundle = read_bundle(BUNDLE_DIR, "selftest")
        engine = Engine(bundle.model_bytes, bundle.manifest)
        largest_difference = engine.verify_references()
    except AgentError as error:
        print(json.dumps({"ok": False, "error": str(error)}))
        return 1

    # A rising series whose mean the test model returns, so the expected value is known here.
    history = np.arange(engine.n_lags, dtype=np.float64) + 10.0
    window = fit_history(history, engine.n_lags).window
    forecast = float(engine.predict(window.reshape(1, -1))[0])
    expected = float(history.mean())
    ok = abs(forecast - expected) <= bundle.manifest.reference_tolerance
    print(
        json.dumps(
            {
                "ok": ok,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "onnxruntime": onnxruntime.__version__,
                "forecast": forecast,
                "expected": expected,
                "largest_reference_difference": largest_difference,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
