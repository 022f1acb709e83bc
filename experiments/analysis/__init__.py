"""From per-episode results to answers: KPIs, statistics, plots, reports, forecasting and segmentation."""
