"""Administration pages: users, roles, groups and the audit log."""
