"""Classic replenishment policies, the demand they plan for, and the rolling-horizon LP policy."""
