-- loyalty 0.3.0 -> 0.4.0: the sale triggers lose their SET clauses, which
-- PostgreSQL applied on every row; the SQL they run through SPI gets the same
-- search_path (and enable_seqscan = off, jit = off) in C, around each
-- statement (src/loyalty.c).  With the clauses, a back-fill's first sale
-- JIT-compiled the trigger's small catalog queries and the backend kept
-- about 16 MB of LLVM memory.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.4.0'" to load this file. \quit
ALTER FUNCTION loyalty.sale_trigger() RESET ALL;
ALTER FUNCTION loyalty.sale_statement_end() RESET ALL;
