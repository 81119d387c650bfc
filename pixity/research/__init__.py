"""Helpers of the research notebooks (``notebooks/research/*.ipynb``): frames in, frames or
figures out, so the notebooks stay a parameters cell and calls.

- ``data``: a scratch data dir, the seeded sample market written into the lake, 15m frames;
- ``quality``: the data-quality report of 1m bars (coverage, gaps, outliers, volume profile);
- ``meta``: the meta-model's research tables (candidates, labels, out-of-sample predictions,
  reliability, the artifact's card);
- ``backtests``: one backtest per strategy over the lake, side by side;
- ``plots``: matplotlib figures of the above.

Submodules are imported on their own (``from pixity.research import quality``) so that a
notebook that draws nothing does not import matplotlib.
"""
