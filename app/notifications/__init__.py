"""In-app notifications (and e-mail through the outbox when SMTP is configured)."""
