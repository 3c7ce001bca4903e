"""`make bench`: relaydesk's chat delivery under load, next to a bare baseline (bench/README.md)."""
