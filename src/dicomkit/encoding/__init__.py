"""Encodings (PS3.5 §7-10, PS3.10, PS3.18 Annex F, PS3.19): bytes <-> Dataset."""
