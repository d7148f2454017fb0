/* sym.c - see sym.h.h (being written) */
#include "sym.h"
