#ifndef CMETERPROOF_OPENSSL_SHIM_H
#define CMETERPROOF_OPENSSL_SHIM_H

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

/* BIO_get_mem_data is a function-like macro in OpenSSL 3; Swift cannot import it. */
static inline long cmp_BIO_get_mem_data(BIO *bio, char **out) {
    return BIO_get_mem_data(bio, out);
}

/* EVP_PKEY_PUBLIC_KEY is a compound macro; Swift cannot import it. */
static inline int cmp_EVP_PKEY_PUBLIC_KEY(void) {
    return EVP_PKEY_PUBLIC_KEY;
}

#endif
