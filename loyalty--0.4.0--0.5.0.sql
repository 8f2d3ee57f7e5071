-- loyalty 0.4.0 -> 0.5.0: hardening (issue "Hardening I").
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.5.0'" to load this file. \quit
