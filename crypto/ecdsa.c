/* ecdsa.c - see ecdsa.h.h (being written) */
#include "ecdsa.h"
