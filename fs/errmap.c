/*
 * errmap.c - enum hsm_status and input errors -> -errno (DESIGN.md §4.3).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errmap.h"

int hsm_status_err(enum hsm_status st)
{
	switch (st) {
	case HSM_OK:		return 0;
	case HSM_E_NOMEM:	return -ENOMEM;
	case HSM_E_INVALID:	return -EINVAL;
	case HSM_E_NOT_FOUND:	return -ENOENT;
	case HSM_E_CONFLICT:	return -EEXIST;
	case HSM_E_UNSUPPORTED:	return -EOPNOTSUPP;
	case HSM_E_KEY_EXPIRED:	return -EKEYEXPIRED;
	/* 403, a 401 after a fresh token, and a refused credential all
	 * mean "this identity may not do that": fix the role or login. */
	case HSM_E_FORBIDDEN:	return -EACCES;
	case HSM_E_UNAUTHORIZED: return -EACCES;
	case HSM_E_AUTH:	return -EACCES;
	/* Retries are exhausted: the caller may try again later. */
	case HSM_E_THROTTLED:	return -EAGAIN;
	case HSM_E_SERVER:	return -EAGAIN;
	case HSM_E_TIMEOUT:	return -ETIMEDOUT;
	case HSM_E_UNREACHABLE:	return -EHOSTUNREACH;
	case HSM_E_CANCELLED:	return -EINTR;
	case HSM_E_PROTOCOL:	return -EIO;
	case HSM_E_IO:		return -EIO;
	}
	return -EIO;
}

int input_err(int neg)
{
	switch (-neg) {
	case EINVAL:
	case EMSGSIZE:
	case EKEYREJECTED:
	case EBADMSG:
	case ENOMEM:
	case ENOENT:
	case ENODATA:
	case EOPNOTSUPP:
	case EACCES:
	case EPERM:
	case EINTR:
	case ETIMEDOUT:
	case EAGAIN:
	case EHOSTUNREACH:
	case EKEYEXPIRED:
		return neg;
	default:
		return -EIO;
	}
}

int fail_status(struct fs_fail *f, enum hsm_status st,
		const struct hsm_call *call)
{
	memset(f, 0, sizeof(*f));
	f->err = hsm_status_err(st);
	snprintf(f->message, sizeof(f->message), "%s",
		 call->err.message[0] ? call->err.message : hsm_strerror(st));
	snprintf(f->code, sizeof(f->code), "%s", call->err.code);
	snprintf(f->request_id, sizeof(f->request_id), "%s",
		 call->err.request_id);
	return f->err;
}

int fail_local(struct fs_fail *f, int err, const char *msg)
{
	memset(f, 0, sizeof(*f));
	f->err = err;
	snprintf(f->message, sizeof(f->message), "%s", msg);
	return f->err;
}
