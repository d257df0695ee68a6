"""The UI shell: base layout, navigation, home page, language switch, health endpoint."""
