"""Local jobs: what the commands do with many files in this one process.

Predict a folder (``predict_files``), write result rows (``writers``), sort images into
label folders (``sorting``), summarise (``summaries``). Drawing the annotated copies and
heatmap PNGs is :mod:`anime_detector.drawing`; the progress bar is
:mod:`anime_detector.progress`. The same work at dataset scale, on a Ray cluster, is
:mod:`anime_detector.batch`. Not part of the public API (that is ``anime_detector``'s top
level); the command line and the demo use these, and each is a plain function a script may
call too.
"""
