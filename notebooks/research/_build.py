"""Write the research notebooks (``01_data``, ``02_meta_model``, ``03_backtest``) with nbformat.

The notebooks are thin: a ``parameters`` cell (papermill) with defaults, then calls into
``pixity``; every helper lives in ``pixity.research``. Cells whose output is a metric or a
table are tagged ``nbval-check-output``: ``pytest --nbval-lax`` compares those (after the
regexes of ``nbval_sanitize.cfg``) and only runs the others.

Rebuild and re-execute, from the repository root::

    .venv/bin/python notebooks/research/_build.py
    .venv/bin/jupyter nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.record_timing=False notebooks/research/0*.ipynb

Cell ids are fixed (``<notebook>-<n>``) so a rebuild changes only what changed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

HERE = Path(__file__).resolve().parent
CHECK = "nbval-check-output"
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# A cell is (kind, source, tags): kind "md" or "code".
Cell = tuple[str, str, list[str]]


def md(text: str) -> Cell:
    return ("md", text.strip(), [])


def code(text: str, *tags: str) -> Cell:
    return ("code", text.strip(), list(tags))


def checked(text: str) -> Cell:
    return code(text, CHECK)


def params(text: str) -> Cell:
    return code(text, "parameters")


DATA: list[Cell] = [
    md("""
# 01 · Data: the history lake and its quality

Writes the seeded sample market's 1m bars into a history lake, reads them back with DuckDB
(`pixity.stores.lake.read_bars`), and reports their quality: session coverage, gaps, outliers
and the intraday volume profile. Every helper is in `pixity.research` (`data`, `quality`,
`plots`).

`data_dir = ""` (the default) writes into a fresh scratch folder under the temp dir, removed
when the kernel exits: running this notebook never touches `data/`. Point it at a lake of your
own (`pixity history import` / `fetch`) to report on real bars; the sample is only added where
the lake has nothing, never written over real bars.

Run under nbval (`pytest --nbval-lax notebooks/research`), the tables are compared with the
stored ones; papermill: `papermill 01_data.ipynb out.ipynb -p start 2025-02-03 -p end 2025-02-14`.
"""),
    params("""
data_dir = ""  # "" = a scratch folder, removed when the kernel exits
symbols = ["NSE_EQ|INE002A01018", "NSE_EQ|INE040A01034", "NSE_EQ|INE467B01029"]  # the last one trades thinly
start = "2025-01-01"  # first day (IST), inclusive
end = "2025-01-14"  # last day, inclusive
seed = 7  # the sample market's seed
k_sigma = 6.0  # outliers: 1m log returns beyond k robust sigmas
profile_minutes = 15  # slot length of the volume profile
plot_symbol = ""  # "" = the first symbol
plot_day = ""  # "YYYY-MM-DD"; "" = the last day
"""),
    md("## Write the sample market into the lake"),
    checked("""
from pixity.research import data, plots, quality
from pixity.stores.lake import available_dates, read_bars

data_dir = data.resolve_data_dir(data_dir)
written = data.write_sample_lake(data_dir, symbols, start, end, seed=seed)
print(f"{len(written)} sample 1m bars of {len(symbols)} symbols in {data_dir}")
available_dates(data_dir)
"""),
    md("""
## Load it back from the lake

One Parquet file per (date, symbol); `read_bars` loads the files of the range and filters and
sorts them in an in-memory DuckDB. The bars come back exactly as written.
"""),
    checked("""
bars = read_bars(data_dir, symbols, data.as_date(start), data.as_date(end))
bars.equals(written)
"""),
    checked("bars.head()"),
    checked("quality.overview(bars)"),
    md("""
## Session coverage

Bars present of the session's 375 minutes (09:15-15:29 IST), per symbol and day. A minute
without a trade has no bar: a thinly traded symbol has fewer.
"""),
    checked('quality.session_coverage(bars)["bars"].unstack("symbol")'),
    md("""
## Gaps

Per symbol-day with a gap: missing minutes, the number of runs of missing minutes, the
longest run and when it started; then how long the runs are.
"""),
    checked("quality.gaps(bars)"),
    checked('quality.gap_runs(bars)["minutes"].value_counts().sort_index()'),
    md("""
## Outliers

1m log returns within a day (close to close; the overnight gap is not a 1m return), scored
against each symbol's robust sigma (1.4826 × the median absolute deviation): beyond `k_sigma`
is an outlier. The sample market's volatile spells and busy open give it fat tails.
"""),
    checked("quality.return_stats(bars, k_sigma)"),
    checked("quality.outliers(bars, k_sigma)"),
    md("""
## Volume profile

The share of each day's volume in each slot, averaged over the days: busy at the open and
the close, quiet at midday.
"""),
    checked("""
profile = quality.volume_profile(bars, profile_minutes)
profile.round(2)
"""),
    md("## Plots"),
    code("plots.day_close(bars, plot_symbol, plot_day)"),
    code("plots.volume_profile(profile)"),
]

META: list[Cell] = [
    md("""
# 02 · The pixityAI_meta meta-model

The research half of `pixityAI_meta`: 15m features (batch), the primary rule's candidates,
their triple-barrier labels, purged walk-forward validation, a reliability table, and the
artifact saved into `<data_dir>/models/pixityAI_meta/<version>/` and loaded back.

It trains with the entry points the shipped default artifact uses
(`pixity.strategies.pixity_meta.training.train` on 1m bars resampled to 15m as the live
session does), so with the default's parameters the numbers are the default's: set
`symbols` to `train_default.SYMBOLS`, `start = "2025-01-01"`, `end = "2025-03-27"` (60 trading
days), `seed = 7`, and the metrics and data hash equal those in
`pixity/strategies/pixity_meta/default_model/metadata.json`.

`data_dir = ""` trains in a scratch folder removed when the kernel exits; give a folder to
keep the artifact, then backtest it with `03_backtest.ipynb` (`model_version`).
"""),
    params("""
data_dir = ""  # "" = a scratch folder, removed when the kernel exits
symbols = ["NSE_EQ|INE002A01018", "NSE_EQ|INE040A01034", "NSE_EQ|INE009A01021"]
start = "2025-01-01"
end = "2025-02-11"  # 30 trading days
seed = 7
version = "research-v1"  # the artifact's folder under <data_dir>/models/pixityAI_meta/
# training parameters; these defaults are the default artifact's (train_default.PARAMS)
pullback_atr = 0.25  # rule: pullback within k ATR of EMA(20) or VWAP
lookback = 3  # rule: ... in the last m bars
profit_atr = 1.5  # barrier: profit target, in ATR
stop_atr = 1.0  # barrier: stop, in ATR
horizon = 6  # barrier: time limit, in 15m bars
c = 0.1  # logistic regression: inverse L2 strength
max_iter = 1000
folds = 4  # walk-forward test blocks
threshold = 0.22  # a signal is emitted at or above this probability
reliability_bins = 5
"""),
    md("## 15m bars from the lake"),
    checked("""
from pixity.research import data, meta, plots
from pixity.stores.lake import read_bars
from pixity.strategies.pixity_meta.artifact import artifact_dir, load_artifact, save_artifact
from pixity.strategies.pixity_meta.features import FEATURE_NAMES, batch_features
from pixity.strategies.pixity_meta.labels import BarrierParams, triple_barrier_labels
from pixity.strategies.pixity_meta.model import ModelParams, metrics_table
from pixity.strategies.pixity_meta.rule import RuleParams, batch_rule
from pixity.strategies.pixity_meta.training import TrainingParams, train

data_dir = data.resolve_data_dir(data_dir)
data.write_sample_lake(data_dir, symbols, start, end, seed=seed)
bars_1m = read_bars(data_dir, symbols, data.as_date(start), data.as_date(end))
bars = data.bars_15m(bars_1m)
params = TrainingParams(
    rule=RuleParams(pullback_atr=pullback_atr, lookback=lookback),
    barrier=BarrierParams(profit_atr=profit_atr, stop_atr=stop_atr, horizon=horizon),
    model=ModelParams(c=c, max_iter=max_iter, folds=folds),
    threshold=threshold,
)
print(f"{len(bars_1m)} 1m bars -> {len(bars)} 15m bars")
"""),
    md("""
## Features (batch)

`batch_features` over the whole frame; a bar's features exist once the symbol is warm
(50 bars, and its time of day seen on 5 earlier days). The live session computes the same
values bar by bar (`FeatureState`; a hypothesis test holds them equal).
"""),
    checked("""
features = batch_features(bars)
features.loc[features["warm"], list(FEATURE_NAMES)].describe().T.round(4)
"""),
    md("""
## Primary-rule candidates

Trend from EMA(50), a pullback to EMA(20) or the VWAP, and a close beyond the previous bar.
"""),
    checked("""
decided = batch_rule(features, params.rule)
meta.candidate_counts(features, decided)
"""),
    md("""
## Triple-barrier labels

Each candidate enters at its close; label 1 when the profit target is reached (on a close)
before the stop, the time limit and the end of the day.
"""),
    checked("""
labels = triple_barrier_labels(features, decided["candidate"], params.barrier)
meta.label_summary(labels)
"""),
    checked("labels.head()"),
    md("""
## Purged walk-forward validation

Candidates in time order are cut into `folds + 1` blocks; each later block is predicted by a
model trained only on earlier candidates, purged of those whose label reaches into the block
(and embargoed by the label horizon). Per fold: AUC, Brier score, and the hit rate of the
candidates at or above the threshold; then pooled over the test blocks.
"""),
    checked("""
source = f"SampleMarket(seed={seed}), {len(symbols)} symbols, {start}..{end}"
trained = train(bars, params, version=version, source=source)
metrics_table(trained.metadata["metrics"])
"""),
    md("""
## Calibration

The walk-forward (out-of-sample) probabilities in bins of equal count: mean predicted against
the observed rate of the target first. The sample market is a random walk, so little skill is
expected: what matters is that the probabilities are honest.
"""),
    checked("""
predictions = meta.walk_forward_predictions(trained.candidates, params)
reliability = meta.reliability_table(predictions, reliability_bins)
reliability
"""),
    code("plots.reliability(reliability)"),
    md("""
## Save the artifact and load it back

`model.joblib` and `metadata.json` (features in order, training range and symbols, metrics,
parameters, library versions, hashes of the training bars and of the model). Loading checks
the feature list against the code's and the model file against its hash.
"""),
    checked("""
folder = save_artifact(artifact_dir(data_dir, version), trained.model, trained.metadata)
sorted(path.name for path in folder.iterdir())
"""),
    checked("""
artifact = load_artifact(folder)
meta.artifact_card(artifact)
"""),
    checked('artifact.metadata["metrics"] == trained.metadata["metrics"]'),
]

BACKTEST: list[Cell] = [
    md("""
# 03 · Backtest: pixityAI_meta against ref_ema_cross

`pixity.backtest.run_backtest` runs the live session's own core (the same strategies, 15m
bars, paper broker, charges and risk rules) over the lake's 1m bars, day by day. Each strategy
is backtested alone, with its own capital and daily-loss limit, so that one's trades do not
change the other's (`pixity.research.backtests.run_each`).

The default period starts after the shipped artifact's training range (to 2025-03-27), so
pixityAI_meta is out of sample here; the lake gets the warm-up days the strategies need before
`start`. `model_version` backtests an artifact trained in `02_meta_model.ipynb` into the same
`data_dir`.
"""),
    params("""
data_dir = ""  # "" = a scratch folder, removed when the kernel exits
symbols = ["NSE_EQ|INE002A01018", "NSE_EQ|INE040A01034", "NSE_EQ|INE009A01021"]
start = "2025-04-01"  # first session day
end = "2025-04-21"  # last session day
seed = 7
strategies = ["pixityAI_meta", "ref_ema_cross"]
max_capital = 100000.0  # rupees, per strategy
max_daily_loss = 5000.0  # rupees, per strategy
slippage_bps = 2.0
model_version = ""  # "" = the artifact shipped in the package; else <data_dir>/models/pixityAI_meta/<version>
"""),
    md("## The lake: the session days and the warm-up before them"),
    checked("""
from pixity.backtest import equity_frame, summary, trades_frame
from pixity.research import backtests, data, plots

data_dir = data.resolve_data_dir(data_dir)
session = {
    "symbols": symbols,
    "strategies": strategies,
    "max_capital": max_capital,
    "max_daily_loss": max_daily_loss,
    "slippage_bps": slippage_bps,
    "data_dir": str(data_dir),
    "run_id": "research",
    "strategy_params": (
        {"pixityAI_meta": {"model_version": model_version, "data_dir": str(data_dir)}}
        if model_version
        else {}
    ),
}
first = backtests.history_start(session, start)
lake = data.write_sample_lake(data_dir, symbols, first, end, seed=seed)
print(f"lake {first} .. {end}: {len(lake)} 1m bars; sessions from {start}")
"""),
    code("results = backtests.run_each(session, start, end)"),
    md("## pixityAI_meta: the report"),
    checked('summary(results["pixityAI_meta"])'),
    md("## Side by side"),
    checked("backtests.compare(results)"),
    md("## pixityAI_meta: the trades (round trips, after charges)"),
    checked('trades_frame(results["pixityAI_meta"])'),
    md("## Equity curves"),
    code("plots.equity_curves({name: equity_frame(result) for name, result in results.items()})"),
    checked('equity_frame(results["pixityAI_meta"]).drop_duplicates("ts", keep="last").tail()'),
]

NOTEBOOKS = {"01_data": DATA, "02_meta_model": META, "03_backtest": BACKTEST}


def build(stem: str, cells: list[Cell]) -> NotebookNode:
    """Return the notebook ``stem`` made of ``cells``, with fixed cell ids and no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source, tags) in enumerate(cells):
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
            if tags:
                cell.metadata["tags"] = tags
        cell.id = f"{stem.replace('_', '-')}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main() -> None:
    """Write every notebook next to this file."""
    for stem, cells in NOTEBOOKS.items():
        path = HERE / f"{stem}.ipynb"
        nbformat.write(build(stem, cells), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
