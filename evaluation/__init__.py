"""signalpack evaluation: classification metrics beside baselines, the trading simulation,
Sharpe statistics (PSR/DSR), the text summary and the HTML report.

Depends on the scorer's contract and numpy/polars (matplotlib for the report); never on
training or export, so a run directory can be re-evaluated without TensorFlow.
"""
