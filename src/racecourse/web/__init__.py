"""Teaching you can see: racecourse in a browser.

- ``report``: one self-contained HTML file of a run or an exploration (``--html FILE``):
  per scenario and start method the verdict, the outcome histogram as a chart, the lesson,
  the worker's code and the failing schedules' timelines.
- ``server``: ``racecourse play ID --web``, the scheduler game in a local page, on the same
  real worker processes as the terminal's ``play``.

Nothing here loads anything from the network: the pages carry their own CSS, SVG and
script, so they work offline and on a projector with no connection.
"""
