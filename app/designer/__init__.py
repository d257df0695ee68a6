"""The browser BPMN designer: drafts saved server-side, checks, deploy, versions (issue 6).

Only the engine imports SpiffWorkflow; this package calls the engine's public functions.
"""
