/* sm4.c — one SM4 block through libcrypto's EVP (sm4.h). */
#include "sim/card/sm4.h"

#include <openssl/evp.h>

bool sm4_block(const uint8_t key[SM4_BLOCK], const uint8_t in[SM4_BLOCK], uint8_t out[SM4_BLOCK])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;
	bool ok = x && EVP_EncryptInit_ex(x, EVP_sm4_ecb(), NULL, key, NULL) == 1 &&
		  EVP_CIPHER_CTX_set_padding(x, 0) == 1 &&
		  EVP_EncryptUpdate(x, out, &n, in, SM4_BLOCK) == 1 &&
		  EVP_EncryptFinal_ex(x, out + n, &m) == 1 && n + m == SM4_BLOCK;
	EVP_CIPHER_CTX_free(x);
	return ok;
}
