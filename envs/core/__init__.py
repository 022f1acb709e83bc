"""The contract every layer shares: errors, config plumbing, seeding, the observation layout, the action mapping and the Policy interface."""
