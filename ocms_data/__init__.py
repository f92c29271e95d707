"""OCMS Lite: client, session and funder-reporting data for small settlement agencies."""
