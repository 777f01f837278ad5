"""Description of the machine, software versions and thread settings, for the report's header."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "numpy", "scikit-learn", "skl2onnx", "onnx", "onnxruntime", "mlflow", "uvicorn", "falcon", "waitress",
    "pyserial", "pandas",
)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def describe(wrk: str | None) -> dict[str, Any]:
    """Return CPU model, cores, memory, OS, Python and package versions, wrk version and thread settings."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_total_kib() / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "wrk": _wrk_version(wrk),
        "thread_settings": {
            "onnxruntime": "1 intra-op and 1 inter-op thread in the agent, the bare app and the in-process cells",
            "agent": "waitress with 4 threads (the agent's default)",
            "bare_app": "waitress with 4 threads",
            "mlflow_models_serve": "uvicorn with 1 worker (-w 1), ONNX Runtime's defaults inside mlflow's pyfunc",
            "scikit_learn": "RandomForest n_jobs=1 as the trainer builds it; BLAS/OpenMP pools below",
            "environment": {name: os.environ.get(name) for name in THREAD_VARIABLES},
            "threadpools": _threadpools(),
            "wrk": "1 wrk thread; 1 or 8 keep-alive connections",
        },
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _wrk_version(wrk: str | None) -> str | None:
    if wrk is None:
        return None
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    text = (completed.stdout + completed.stderr).strip().splitlines()
    return text[0] if text else None


def _threadpools() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    import numpy  # noqa: F401  (loads the BLAS library so that threadpoolctl sees it)
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)

    return [
        {"api": pool.get("user_api"), "library": pool.get("internal_api"), "threads": pool.get("num_threads")}
        for pool in threadpool_info()
    ]
