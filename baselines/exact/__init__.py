"""The exact optimum: the finite MDP of a stocking point, relative value iteration, and exact policy evaluation."""
