"""Serving: a learner's greedy policy exported for use without Python or tether (ONNX)."""
