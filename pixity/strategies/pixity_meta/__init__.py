"""``pixityAI_meta``: a meta-labelling strategy on closed 15m bars.

A primary rule (``rule``) proposes BUY/SELL candidates from the trend and a pullback; a
scikit-learn meta-model (``model``), trained on triple-barrier labels (``labels``) of past
candidates from features computed by ``features``, gives each candidate a probability that is
the signal's confidence. Trades exit by the same triple barrier the labels use. Artifacts are
saved and loaded by ``artifact``; ``strategy`` is what the live session and the backtest run.
"""

STRATEGY_ID = "pixityAI_meta"
