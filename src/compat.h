/*
 * compat.h -- the few places where PostgreSQL's C API differs between the
 * versions the extension builds against (15 and 17), behind PG_VERSION_NUM
 * guards.  Each macro expands, on 15, to exactly the code it replaced.
 */
#ifndef LOYALTY_COMPAT_H
#define LOYALTY_COMPAT_H

#include "postgres.h"

#include "executor/executor.h"
#include "storage/lock.h"
#include "storage/proc.h"

/* PG 17 moved the backend's local transaction id into MyProc->vxid */
#if PG_VERSION_NUM >= 170000
#define LY_MY_LXID (MyProc->vxid.lxid)
#else
#define LY_MY_LXID (MyProc->lxid)
#endif

/* PG 17: LockHeldByMe(tag, mode, orstronger); we ask for the mode itself */
#if PG_VERSION_NUM >= 170000
#define LyLockHeldByMe(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define LyLockHeldByMe(tag, mode) LockHeldByMe((tag), (mode))
#endif

/*
 * PG 16: simple_table_tuple_update reports which indexes need new entries as
 * a TU_UpdateIndexes (none, all, or only the summarizing ones, BRIN), and
 * ExecInsertIndexTuples takes onlySummarizing.  On 15 a bool, and no such
 * argument.  LyInsertIndexTuplesNew: a speculative insertion's entries
 * (noDupErr, the arbiter indexes).
 */
#if PG_VERSION_NUM >= 160000
typedef TU_UpdateIndexes LyUpdateIndexes;
#define LY_UPDATE_INDEXES_NONE TU_None
#define LyInsertIndexTuples(rri, slot, estate, update, ui) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL, \
						  (ui) == TU_Summarizing)
#define LyInsertIndexTuplesNew(rri, slot, estate, conflict, arbiters) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, true, (conflict), (arbiters), false)
#else
typedef bool LyUpdateIndexes;
#define LY_UPDATE_INDEXES_NONE false
#define LyInsertIndexTuples(rri, slot, estate, update, ui) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL)
#define LyInsertIndexTuplesNew(rri, slot, estate, conflict, arbiters) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, true, (conflict), (arbiters))
#endif

/*
 * Headers of a PostgreSQL configured on glibc >= 2.38 (which has strlcpy, so
 * port.h does not declare it) compiled with an older glibc's <string.h>: the
 * server, and its libc, provide the function at run time.
 */
#if defined(HAVE_DECL_STRLCPY) && HAVE_DECL_STRLCPY && \
	defined(__GLIBC__) && !__GLIBC_PREREQ(2, 38)
extern size_t strlcpy(char *dst, const char *src, size_t siz);
#endif

#endif							/* LOYALTY_COMPAT_H */
