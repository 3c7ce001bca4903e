"""relaydesk: help desk and partner management for a platform's partners."""
