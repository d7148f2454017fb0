/* pkop.c - see pkop.h.h (being written) */
#include "pkop.h"
