/*
 * identities_i.h - who may get tokens from hsm-emulator, and with which role.
 *
 * The defaults of docs/contracts.md are always present; an identities file
 * (--identities) adds clients and managed identities.  The table is built
 * once at start and is read-only afterwards, so lookups need no lock.
 */
#ifndef HSMFS_EMU_IDENTITIES_I_H
#define HSMFS_EMU_IDENTITIES_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "emu.h"

struct emu_identity {
	char *client_id;
	char *secret;			/* NULL: no secret credential */
	char *federated_subject;	/* NULL: no workload identity */
	EVP_PKEY *cert_key;		/* public key of the registered cert, or NULL */
	uint8_t x5t[20];		/* SHA-1 of the certificate's DER */
	uint8_t x5t_s256[32];		/* SHA-256 of the certificate's DER */
	bool managed;			/* a managed identity (IMDS / App Service) */
	enum emu_role role;
	char oid[37];			/* stable object id derived from client_id */
};

struct identities;

/* Build the table: the defaults, plus the contents of file when it is not
 * NULL.  Returns NULL on failure with a one-line reason in err (naming the
 * file and what is wrong with it).  Free with identities_free(). */
struct identities *identities_load(const char *file, char *err, size_t errlen);
void identities_free(struct identities *ids);

/* The client (not managed identity) with this client id, or NULL. */
const struct emu_identity *identities_client(const struct identities *ids,
					     const char *client_id);
/* The managed identity with this client id; client_id NULL: the default
 * one ("hsmfs-mi").  NULL when unknown. */
const struct emu_identity *identities_managed(const struct identities *ids,
					      const char *client_id);
/* The App Service identity header value (a borrowed string). */
const char *identities_header(const struct identities *ids);

#endif
