/* What a PIN pad does with the digits it reads: packed BCD written over
 * the APDU template's FF bytes, left-justified (a 6-digit PIN fills three
 * bytes; an odd digit count leaves the last low nibble F). Shared by the
 * emulated pad (sim/ifd_pinpad.c) and the unit tests' fake pad. */
#ifndef SSCARD_SIM_BCD_H
#define SSCARD_SIM_BCD_H

#include <stddef.h>
#include <stdint.h>

static inline void bcd_put(uint8_t *p, const char *digits)
{
	for (size_t i = 0; digits[i]; i++)
		p[i / 2] = i % 2 ? (uint8_t)((p[i / 2] & 0xF0) | (digits[i] - '0'))
				 : (uint8_t)(((digits[i] - '0') << 4) | (p[i / 2] & 0x0F));
}

#endif
