/* The start of the function that covers an address, from the binary-search
 * table of a module's .eh_frame_hdr (its PT_GNU_EH_FRAME segment), which
 * the linker sorts by each FDE's initial location:
 *
 *   u8  version                 1
 *   u8  eh_frame_ptr_enc        e.g. 0x1b (pcrel | sdata4)
 *   u8  fde_count_enc           e.g. 0x03 (udata4)
 *   u8  table_enc               0x3b (datarel | sdata4): the only one GNU
 *                               ld, gold and lld write
 *   eh_frame_ptr                (eh_frame_ptr_enc)
 *   fde_count                   (fde_count_enc)
 *   { s32 initial_location, s32 fde_address } [fde_count], both relative
 *                               to the start of .eh_frame_hdr
 *
 * A stripped module keeps it (unwinders need it), so its functions have a
 * start even without symbols (symbolize.c names them after it).  The
 * bytes come from the module's file, which may be anything: every field
 * is checked against LEN.  Pure: no I/O. */
#ifndef MT_FDETAB_H
#define MT_FDETAB_H

#include <stddef.h>
#include <stdint.h>

/* HDR[0..LEN): the segment's bytes; HDR_VADDR: its ELF address.  The
 * greatest initial location <= VADDR into *START: 0, or -1 when the table
 * is malformed, has an encoding other than those above, or starts after
 * VADDR.  Whether an FDE really covers VADDR (and not a gap after the
 * function found) is for the caller to know. */
int mt_fdetab_find(const uint8_t *hdr, size_t len, uint64_t hdr_vaddr, uint64_t vaddr,
		   uint64_t *start);

#endif
