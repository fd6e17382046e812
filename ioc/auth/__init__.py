"""Access control: accounts, sessions, roles and district scoping, API and kiosk tokens, the audit log,
and the web defaults (security headers, CSRF, cookie flags) of the Dash server.

Everything here lives in its own SQLite database (``DATA_DIR/auth/auth.sqlite``, WAL mode), not in
the DuckLake store: web worker processes only *read* the store, while sign-ins, sessions and audit
entries are small writes from every worker. See docs/security.md.
"""
