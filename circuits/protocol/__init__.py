"""The protocol the trader's CLI and the service speak: what both applications import and
neither owns (the state and its codec, fill openings, oracle reports, the key store, the home
directory, the HTTP API's models)."""
