"""Drawing on images: a prediction's label and score (``annotate``) and its Grad-CAM
heatmap over the picture (``heatmap_png``), for ``predict --annotate/--explain`` and the
service's ``/v1/explain``."""
