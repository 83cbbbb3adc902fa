"""Agents: tools with JSON schemas, function calling, plans validated before they run,
budgets, approvals and checkpoints (issue 17)."""
