/*
 * fuzz_opname - the operation-file name grammar (fs/opname.c).
 *
 * Input: one byte choosing the key's shape, then the file name.  A name
 * that parses must come out consistent: its algorithm valid for the key
 * and the operation, raw only with ECDSA, prehashed only for sign/verify.
 */
#include <errno.h>

#include "fuzz.h"
#include "fuzz_shapes.h"
#include "opname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	const struct keyshape *k = fz_shape(&f);
	char *name = fz_str(&f);
	struct opname on;
	int rc;

	memset(&on, 0x5a, sizeof(on));
	rc = opname_parse(name, k, &on);
	fz_check(rc == 0 || rc == -ENOENT);
	if (rc == 0) {
		fz_check(on.op < FOP__COUNT && on.alg != NULL);
		fz_check(op_supported(k, on.op));
		fz_check(op_alg_valid(k, on.op, on.alg));
		fz_check(on.enc <= ENC_HEX);
		fz_check(!on.prehashed || on.op == FOP_SIGN ||
			 on.op == FOP_VERIFY);
		fz_check(!on.raw || on.alg->family == ALG_ECDSA);
		fz_check(strncmp(name, fs_op_name(on.op),
				 strlen(fs_op_name(on.op))) == 0);
	}
	free(name);
	return 0;
}
