"""Self-contained HTML report pages: one file with inline styles, embedded PNG images and a tiny inline sort
script, nothing fetched from anywhere (a strict Content-Security-Policy says so to the browser).

:mod:`zoo.report.page` fills the package's template (``page.html``, ``page.css``, ``page.js``) and builds
tables; :mod:`zoo.report.images` makes the embedded pictures (views strips, confusion matrix, timelines);
:mod:`zoo.report.video_page` is the one-video page of ``zoo-predict --report``. The evaluation page of
``zoo-test`` lives with the evaluator (:mod:`zoo.evaluate.run_report`).
"""
