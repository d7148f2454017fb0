/* queue_clean.h - the crypto tests' check that OpenSSL's error queue is
 * empty after every failure crypto/ returns (crypto/ promises it). */
#ifndef HSMFS_TESTS_CRYPTO_QUEUE_CLEAN_H
#define HSMFS_TESTS_CRYPTO_QUEUE_CLEAN_H

#include <openssl/err.h>

#include "tap.h"

#define queue_clean(...) ok(ERR_peek_error() == 0, __VA_ARGS__)

#endif
