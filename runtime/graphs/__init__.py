"""Code that writes or reads ONNX graphs with the ``onnx`` package, in one place.

``onnx`` is not a runtime dependency: the ``[bench]`` extra provides it (``[train]`` and
``[ncnn]`` do too). ``reference`` writes the VGG19-head graph ``bench`` times when no
model is given, ``explain_head`` appends the Grad-CAM outputs (export and ``reference``
call it), ``flops`` counts a graph's multiply-accumulates. Each module imports ``onnx``
inside its functions; nothing below this package (engines, the detector) imports it.
"""
