/*
 * txn_key.h -- the (store, pos_txn) key holds and redemptions share
 * (txn_key.c).
 */
#ifndef LOYALTY_TXN_KEY_H
#define LOYALTY_TXN_KEY_H

#include "loyalty.h"

/* the table whose (store, pos_txn) index a probe reads */
typedef enum LoyaltyKeyTable
{
	LOYALTY_KEY_HOLDS,			/* loyalty.hold: UNIQUE (store, pos_txn) */
	LOYALTY_KEY_REDEMPTIONS		/* loyalty.ledger: unique (store, pos_txn) of redeem entries */
} LoyaltyKeyTable;

extern bool LoyaltyTxnKeyTaken(LoyaltyKeyTable table, const char *store, const char *pos_txn);

#endif							/* LOYALTY_TXN_KEY_H */
