"""Database access: connections, transactions, migrations and the local-server bootstrap."""
