"""What the commands do with many files: predict a folder, write results, annotate, report.

Not part of the public API (that is ``anime_detector``'s top level); the command line and
the demo use these, and each is a plain function a script may call too.
"""
