"""The archive (a PACS): durable file storage, an index (SQLite or PostgreSQL), ingest and
PS3.4 C.2.2.2 matching compiled to SQL."""
