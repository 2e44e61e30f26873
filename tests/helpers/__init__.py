"""What the tests share: generated images, small ONNX models, running the command line.

Importable as ``helpers`` because pytest puts ``tests/`` on the path (``pythonpath`` in
pyproject.toml's ``[tool.pytest.ini_options]``).
"""
