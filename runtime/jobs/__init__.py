"""Local jobs: what the commands do with many files in this one process.

Predict a folder (``predict_files``), write result rows (``writers``), annotated copies
(``annotate``) and heatmap PNGs (``heatmap_png``), sort images into label folders
(``sorting``), show progress, summarise. The same work at dataset scale, on a Ray
cluster, is :mod:`anime_detector.batch`. Not part of the public API (that is
``anime_detector``'s top level); the command line and the demo use these, and each is a
plain function a script may call too.
"""
