#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <elf.h>

#include "target/maps.h"
#include "symbols/rtld.h"

static uint64_t auxv_value(pid_t pid, uint64_t type)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t kv[2], v = 0;
	while (read(fd, kv, sizeof kv) == sizeof kv && kv[0] != AT_NULL)
		if (kv[0] == type)
			v = kv[1];
	close(fd);
	return v;
}

static int symbol_value(int fd, const char *name, uint64_t *value)
{
	elf_version(EV_CURRENT);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		return -EINVAL;
	int err = -ENOENT;
	Elf_Scn *scn = NULL;
	while (err && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; data && i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			const char *s = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (s && strcmp(s, name) == 0) {
				*value = sym.st_value;
				err = 0;
				break;
			}
		}
	}
	elf_end(elf);
	return err;
}

int mt_rtld_debug_state_addr(pid_t pid, uint64_t *addr)
{
	*addr = 0;
	uint64_t base = auxv_value(pid, AT_BASE);
	if (!base)
		return 0; /* no interpreter: a static program */
	struct mt_maps maps;
	int err = mt_maps_read(pid, &maps);
	if (err < 0)
		return err;
	const struct mt_map *m = mt_maps_find(&maps, base);
	err = -ENOENT;
	if (m) {
		char path[128];
		snprintf(path, sizeof path, "/proc/%d/map_files/%lx-%lx", (int)pid,
			 (unsigned long)m->start, (unsigned long)m->end);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && m->path) {
			snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, m->path);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (fd >= 0) {
			uint64_t v;
			err = symbol_value(fd, "_dl_debug_state", &v);
			if (err == 0)
				*addr = base + v;
			close(fd);
		}
	}
	mt_maps_free(&maps);
	return err;
}
