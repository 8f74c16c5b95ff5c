/* sm4.h — one SM4 block (GB/T 32907, ECB) through OpenSSL's libcrypto, for
 * the emulated card and PSAM of card-spec §9. Test rig only: the daemon
 * holds no key and needs no cipher. */
#ifndef SSCARD_SIM_SM4_H
#define SSCARD_SIM_SM4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM4_BLOCK 16

/* out = SM4(key, in); false when libcrypto has no SM4. */
bool sm4_block(const uint8_t key[SM4_BLOCK], const uint8_t in[SM4_BLOCK], uint8_t out[SM4_BLOCK]);
/* card-spec §10: the last block of SM4-CBC over m (n a multiple of 16,
 * already padded) from iv; false when libcrypto has no SM4 or n is not. */
bool sm4_cbc_mac(const uint8_t key[SM4_BLOCK], const uint8_t iv[SM4_BLOCK], const uint8_t *m, size_t n,
		 uint8_t mac[SM4_BLOCK]);

#endif
