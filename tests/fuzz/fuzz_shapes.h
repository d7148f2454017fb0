/*
 * fuzz_shapes.h - the key shapes the operation-file targets (fuzz_opname,
 * fuzz_frame) choose from with one input byte: every type, curve and
 * size, with full and partial key_ops.
 */
#ifndef HSMFS_FUZZ_SHAPES_H
#define HSMFS_FUZZ_SHAPES_H

#include "fuzz.h"
#include "opname.h"

#define FZ_ALL_OPS (KOP_SIGN | KOP_VERIFY | KOP_ENCRYPT | KOP_DECRYPT | \
		    KOP_WRAP | KOP_UNWRAP)

static const struct keyshape fz_shapes[] = {
	{ KEY_EC, CRV_P256, 256, KOP_SIGN | KOP_VERIFY },
	{ KEY_EC, CRV_P256K, 256, KOP_SIGN | KOP_VERIFY },
	{ KEY_EC, CRV_P384, 384, KOP_SIGN | KOP_VERIFY },
	{ KEY_EC, CRV_P521, 521, KOP_SIGN | KOP_VERIFY },
	{ KEY_EC, CRV_P384, 384, KOP_SIGN },
	{ KEY_RSA, CRV_NONE, 2048, FZ_ALL_OPS },
	{ KEY_RSA, CRV_NONE, 4096, KOP_DECRYPT | KOP_UNWRAP },
	{ KEY_OCT, CRV_NONE, 128, FZ_ALL_OPS },
	{ KEY_OCT, CRV_NONE, 192, KOP_WRAP | KOP_UNWRAP },
	{ KEY_OCT, CRV_NONE, 256, FZ_ALL_OPS },
	{ KEY_OCT, CRV_NONE, 256, 0 },
};

/* The shape the next input byte picks. */
static inline const struct keyshape *fz_shape(struct fz *f)
{
	return &fz_shapes[fz_byte(f) % (sizeof(fz_shapes) / sizeof(fz_shapes[0]))];
}

#endif
