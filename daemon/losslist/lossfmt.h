/* lossfmt.h — how the central publishes the loss list, apart from any I/O
 * (so that it can be fuzzed): a signed text `head`, full snapshots, and
 * deltas between versions. Documented in docs/loss-list-format.md.
 *
 * Snapshots and deltas hold records sorted by card id, grouped by the id's
 * first 8 bytes (region + issuer application prefix); within a group the
 * last 8 bytes are delta-coded with a Rice code, so a record costs close
 * to the entropy of the identifiers. State and loss day follow in a second
 * stream. */
#ifndef SSCARD_LOSSFMT_H
#define SSCARD_LOSSFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOSSFMT_ID_LEN 16
#define LOSSFMT_SIG_LEN 64       /* Ed25519 */
#define LOSSFMT_PK_LEN 32
#define LOSSFMT_SK_LEN 64
#define LOSSFMT_HASH_LEN 32      /* SHA-256 */
#define LOSSFMT_NAME_MAX 64
#define LOSSFMT_MAX_DELTAS 32     /* delta lines a head may carry */
#define LOSSFMT_HEAD_MAX 8192     /* bytes of a head */

struct loss_rec {
	uint8_t id[LOSSFMT_ID_LEN];
	uint8_t state;           /* enum loss_state; in a delta 0 = taken off the list */
	uint16_t day;            /* days since 1970-01-01 the loss took effect */
};

struct lossfmt_stats {
	size_t groups;
	size_t id_bytes;         /* the identifier streams alone */
	size_t attr_bytes;       /* state + day streams */
};

/* Encode n records (sorted by id, ids unique) as a snapshot (base == 0) or
 * a delta from base to version. *out is malloc'ed. 0, or -1 when the
 * records are not sorted/unique or memory ran out. */
int lossfmt_encode(const struct loss_rec *r, size_t n, uint64_t base, uint64_t version,
		   int64_t published, uint8_t **out, size_t *out_len, struct lossfmt_stats *st);

struct lossfmt_file {
	bool delta;
	uint64_t base, version, count;
	int64_t published;
};

/* Decode, calling fn for each record in id order (fn returns non-zero to
 * stop: that becomes the return value). 0 on success; -1 with a sentence
 * in err when the file is truncated, garbled or not in id order. Never
 * reads outside buf. */
int lossfmt_decode(const uint8_t *buf, size_t len, struct lossfmt_file *f,
		   int (*fn)(void *arg, const struct loss_rec *r), void *arg, char *err,
		   size_t errlen);

/* The head: what the latest version is and where its files are. */
struct lossfmt_head {
	uint64_t version;
	int64_t published;
	char snapshot[LOSSFMT_NAME_MAX];
	uint8_t snapshot_hash[LOSSFMT_HASH_LEN];
	uint64_t snapshot_size;
	/* the deltas of the last versions, oldest first, contiguous, the last
	 * one ending at version: a terminal a few versions behind walks them */
	unsigned n_delta;
	struct lossfmt_delta {
		uint64_t base;   /* from base to base + 1 */
		char name[LOSSFMT_NAME_MAX];
		uint8_t hash[LOSSFMT_HASH_LEN];
		uint64_t size;
	} delta[LOSSFMT_MAX_DELTAS];
};

/* Text of a signed head; *out malloc'ed. 0 or -1. */
int lossfmt_head_write(const struct lossfmt_head *h, const uint8_t sk[LOSSFMT_SK_LEN],
		       char **out, size_t *out_len);
/* Verify the signature over the exact bytes, then parse. 0, or -1 with a
 * sentence in err (bad signature, unknown line, bad number …). */
int lossfmt_head_read(const char *text, size_t len, const uint8_t pk[LOSSFMT_PK_LEN],
		      struct lossfmt_head *h, char *err, size_t errlen);
/* SHA-256 of a file's bytes, for the head. */
void lossfmt_hash(const uint8_t *b, size_t n, uint8_t out[LOSSFMT_HASH_LEN]);

#endif
