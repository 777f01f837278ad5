"""The inference engine on the fixture bundles: loading, prediction, reference checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge_agent.bundle import parse_manifest
from edge_agent.runtime.engine import Engine, EngineHolder, SessionSettings, session_options
from edge_agent.runtime.exceptions import ModelLoadError, ReferenceMismatchError

from runtime_helpers import DATA


def load(name: str) -> tuple[bytes, object]:
    return (DATA / name / "model.onnx").read_bytes(), parse_manifest((DATA / name / "edge_manifest.json").read_bytes())


def test_predict_batch_returns_one_value_per_row():
    engine = Engine(*load("mean12"))
    windows = np.array([np.arange(12, dtype=np.float64), np.full(12, 20.0)])

    predicted = engine.predict(windows)

    assert predicted.dtype == np.float64
    assert predicted.shape == (2,)
    assert predicted == pytest.approx([5.5, 20.0], abs=1e-5)


def test_predict_rejects_wrong_window_width():
    engine = Engine(*load("mean12"))

    with pytest.raises(ValueError, match=r"expected \(k, 12\)"):
        engine.predict(np.zeros((1, 6)))


def test_references_within_tolerance():
    engine = Engine(*load("recent12"))

    assert engine.verify_references() <= engine.manifest.reference_tolerance


def test_reference_mismatch_refused():
    model, manifest = load("mean12")
    wrong = dataclasses.replace(manifest, reference_outputs=[value + 0.5 for value in manifest.reference_outputs])
    engine = Engine(model, wrong)

    with pytest.raises(ReferenceMismatchError, match="reference input 0"):
        engine.verify_references()


def test_model_of_other_bundle_refused():
    # recent12's weights behind mean12's manifest: same shape, other outputs.
    model, _ = load("recent12")
    _, manifest = load("mean12")

    with pytest.raises(ReferenceMismatchError):
        Engine(model, manifest).verify_references()


def test_input_width_must_match_manifest():
    model, _ = load("mean6")
    _, manifest = load("mean12")

    with pytest.raises(ModelLoadError, match=r"shape \[.*6\], the manifest expects \[batch, 12\]"):
        Engine(model, manifest)


@pytest.mark.parametrize(
    "model_bytes",
    [b"", b"not an onnx model", (DATA / "mean12" / "model.onnx").read_bytes()[:100]],
    ids=["empty", "text", "truncated"],
)
def test_unloadable_model_refused(model_bytes):
    _, manifest = load("mean12")

    with pytest.raises(ModelLoadError, match="could not load"):
        Engine(model_bytes, manifest)


def test_session_options_single_thread_no_spinning():
    options = session_options(SessionSettings(intra_op_threads=2))

    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_holder_swap_returns_previous():
    first, second = Engine(*load("mean12")), Engine(*load("recent12"))
    holder = EngineHolder(first)

    previous = holder.swap(second)

    assert previous is first
    assert holder.get() is second


def test_overflowed_rows_include_float32_saturation():
    import numpy as np

    from edge_agent.runtime.engine import overflowed_rows

    largest = float(np.finfo(np.float32).max)
    predictions = np.array([21.5, np.inf, np.nan, largest, -largest, 3.0e38])

    assert overflowed_rows(predictions).tolist() == [1, 2, 3, 4]
