"""Benchmarking: engines timed interleaved on the same inputs, with a fidelity column.

``runner`` loads and times engines, ``child`` measures cold start and peak memory in a
fresh process, ``report`` formats tables and the recommendation, ``reference_graph``
builds the VGG19-head graph that ``bench`` times before any model is trained.
"""
