"""Detection evaluation: the rules engine against a simulated fleet with injected faults,
scored against the simulator's ground truth (``whistle evaluate``, ``make evaluate``)."""

from evaluation.run import evaluate, evaluate_command, render

__all__ = ["evaluate", "evaluate_command", "render"]
