"""Running an experiment: policy builders, the plan of resumable units, executing them, and the run folder."""
