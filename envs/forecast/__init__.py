"""Forecasters fitted on sales histories, and their rolling-origin backtest."""
