/* digest.c - see digest.h.h (being written) */
#include "digest.h"
