-- loyalty install script, built by the Makefile from src/sql/*.sql.
\echo Use "CREATE EXTENSION loyalty" to load this file. \quit

