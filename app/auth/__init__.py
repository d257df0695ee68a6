"""People: users, roles, groups/departments, login, API tokens."""
