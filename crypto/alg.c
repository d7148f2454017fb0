/* alg.c - see alg.h.h (being written) */
#include "alg.h"
