/* mask.h — how personal data is shown in logs and on screens by default. */
#ifndef SSCARD_MASK_H
#define SSCARD_MASK_H

#include <stddef.h>

/* SSN: first 6 and last 4 kept ("111111********1110"). */
void mask_ssn(const char *ssn, char *out, size_t cap);
/* Name (UTF-8): first character kept, each further character → '*' ("张*"). */
void mask_name(const char *name, char *out, size_t cap);
/* Card identifier or number: first 4 and last 4 kept, 10 stars between
 * ("6399**********4966"), so the length does not show. */
void mask_id(const char *id, char *out, size_t cap);
/* The card number printed on the card (卡号, EF05 record 07, e.g.
 * X00000019): what a holder recognises; X000****9. */
void mask_card_number(const char *number, char *out, size_t cap);

#endif
