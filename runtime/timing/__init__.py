"""Benchmarking: engines timed interleaved on the same inputs, with a fidelity column.

``plan`` picks the engine x precision rows to time, ``runner`` loads and times them,
``child`` measures cold start and peak memory in a fresh process, ``report`` formats
tables and the recommendation. The reference graph timed before any model is trained is
written by :mod:`anime_detector.graphs.reference`.
"""
