"""Grad-CAM heatmaps from the runtime alone: where the model sees anime.

``heatmaps`` turns the two extra outputs an exported model carries (named in
:mod:`anime_detector.contract`) into heatmaps. The graph half, the backward pass through
the dense head written as ONNX nodes, is :mod:`anime_detector.graphs.explain_head`;
drawing a heatmap over its picture is :mod:`anime_detector.drawing.heatmap_png`; a
``Detector`` that explains comes from :func:`anime_detector.detector.load_explainer`.
"""
