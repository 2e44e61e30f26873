"""Grad-CAM heatmaps from the runtime alone: where the model sees anime.

``graph`` builds the backward pass through the dense head as ONNX nodes (export appends
them to the model, so any onnxruntime session computes the gradient); ``heatmaps`` turns
the extra outputs into heatmaps and runs the ``explain`` job; ``render`` draws them.
"""
