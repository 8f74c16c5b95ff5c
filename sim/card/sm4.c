/* sm4.c — one SM4 block through libcrypto's EVP (sm4.h). */
#include "sim/card/sm4.h"

#include <openssl/evp.h>
#include <string.h>

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

bool sm4_cbc_mac(const uint8_t key[SM4_BLOCK], const uint8_t iv[SM4_BLOCK], const uint8_t *m, size_t n,
		 uint8_t mac[SM4_BLOCK])
{
	uint8_t chain[SM4_BLOCK], block[SM4_BLOCK];
	if (!n || n % SM4_BLOCK)
		return false;
	memcpy(chain, iv, SM4_BLOCK);
	for (size_t off = 0; off < n; off += SM4_BLOCK) {
		for (int i = 0; i < SM4_BLOCK; i++)
			block[i] = chain[i] ^ m[off + i];
		if (!sm4_block(key, block, chain))
			return false;
	}
	memcpy(mac, chain, SM4_BLOCK);
	return true;
}
