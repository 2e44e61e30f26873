"""The HTTP service: ``anime-detector serve MODEL`` (the ``[serve]`` extra).

One app definition (:mod:`.app`) over one :class:`~anime_detector.detector.Detector`:
the dynamic batcher (:mod:`.batcher`), request limits (:mod:`.uploads`), Prometheus
metrics (:mod:`.metrics`), the per-request middleware (:mod:`.middleware`), the route
table (:mod:`.routes`), the OpenAPI schema (:mod:`.openapi`), the web page (``page.html``)
and the uvicorn runner with a draining shutdown (:mod:`.server`). :mod:`.client` is the
thin remote client behind ``predict --server``: standard library only, it needs neither
the extra nor an engine.

Nothing here is imported by the runtime core; importing this package itself imports no
web framework (the modules do).
"""
