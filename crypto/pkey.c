/* pkey.c - see pkey.h.h (being written) */
#include "pkey.h"
