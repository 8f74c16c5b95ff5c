/* mask.c — masking of personal data. */
#include "daemon/mask.h"

#include <stdio.h>
#include <string.h>

static void keep_ends(const char *s, size_t head, size_t tail, size_t stars, char *out,
		      size_t cap)
{
	size_t n = strlen(s);
	if (!cap)
		return;
	if (n <= head + tail) {
		/* Too short to show any of it safely. */
		snprintf(out, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), "****************");
		return;
	}
	if (!stars)
		stars = n - head - tail;
	snprintf(out, cap, "%.*s%.*s%s", (int)head, s, (int)stars,
		 "********************************", s + n - tail);
}

void mask_ssn(const char *ssn, char *out, size_t cap)
{
	keep_ends(ssn, 6, 4, 0, out, cap);
}

void mask_id(const char *id, char *out, size_t cap)
{
	keep_ends(id, 4, 4, 10, out, cap);
}

void mask_card_number(const char *number, char *out, size_t cap)
{
	keep_ends(number, 4, 1, 0, out, cap); /* X00000019 → X000****9, as printed cards are masked */
}

void mask_name(const char *name, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	const unsigned char *s = (const unsigned char *)name;
	if (!cap)
		return;
	/* Copy the first UTF-8 character whole, then one '*' per character. */
	if (s[0]) {
		size_t len = s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
		for (; i < len && s[i] && o + 1 < cap; i++)
			out[o++] = (char)s[i];
	}
	for (; s[i]; i++)
		if ((s[i] & 0xC0) != 0x80 && o + 1 < cap)
			out[o++] = '*';
	out[o] = 0;
}
