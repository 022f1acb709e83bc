"""Benchmarks behind 'stocklab bench': engine throughput, decision latency, optimality, forecasting."""
