#include <string.h>

#include "symbols/fdetab.h"

/* DWARF exception-header pointer encodings (LSB, "Exception Frame
 * Header"): the low nibble is the format, the high one how it applies. */
#define PE_OMIT 0xff
#define PE_ABSPTR 0x00
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
#define PE_DATAREL 0x30
#define TABLE_ENC (PE_DATAREL | PE_SDATA4)

/* Bytes a field of encoding ENC takes (the application bits aside); 0 for
 * a format this reader does not take. */
static size_t field_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case PE_UDATA4:
	case PE_SDATA4:
		return 4;
	case PE_ABSPTR:
	case PE_UDATA8:
	case PE_SDATA8:
		return 8;
	default:
		return 0;
	}
}

static int32_t s32_at(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return (int32_t)v;
}

static uint64_t u64_at(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

int mt_fdetab_find(const uint8_t *hdr, size_t len, uint64_t hdr_vaddr, uint64_t vaddr,
		   uint64_t *start)
{
	if (!hdr || len < 4 || hdr[0] != 1 || hdr[3] != TABLE_ENC || hdr[1] == PE_OMIT ||
	    hdr[2] == PE_OMIT)
		return -1;
	size_t ptr_size = field_size(hdr[1]), count_size = field_size(hdr[2]);
	if (!ptr_size || !count_size || (hdr[2] & 0x70) != 0 || len < 4 + ptr_size + count_size)
		return -1;
	uint64_t count = u64_at(hdr + 4 + ptr_size, count_size);
	size_t table = 4 + ptr_size + count_size;
	if (count == 0 || count > (len - table) / 8)
		return -1;

	/* The last entry whose initial location is <= VADDR. */
	const uint8_t *t = hdr + table;
	size_t lo = 0, hi = (size_t)count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t loc = hdr_vaddr + (uint64_t)(int64_t)s32_at(t + 8 * mid);
		if (loc <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	*start = hdr_vaddr + (uint64_t)(int64_t)s32_at(t + 8 * (lo - 1));
	return 0;
}
