"""Automation rules: event + condition + actions on CRM records (DOMAIN.md, issue 4)."""
