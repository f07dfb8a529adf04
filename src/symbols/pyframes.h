/* Python frames (issue 21): CPython's frames named in the stacks, in place
 * of its eval loop's, as py-spy --native shows them.
 *
 * At allocation time the agent reads the calling thread's chain of
 * interpreter frames (agent.c, "Python frames") and puts each frame's code
 * object and instruction index into the stack as a tagged pc
 * (MT_AGENT_PY_TAG, agent_abi.h).  This module finds the interpreter in
 * the process (its symbols: _PyRuntime, Py_Version, the eval loop), says
 * which offsets the agent needs for that version, and names a tagged pc
 * by reading its code object from the process: qualified name, file, and
 * the line of the instruction from the code's location table.
 *
 * Supported: CPython 3.9 to 3.13 (the table in pyframes.c is the one place
 * to extend).
 * Everything read from the process is validated (object types, sizes,
 * bounds) and every loop is bounded. */
#ifndef MT_PYFRAMES_H
#define MT_PYFRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/agent_abi.h"

enum mt_py_status {
	MT_PY_NONE = 0,        /* no CPython in the process */
	MT_PY_OK,              /* Python frames are taken */
	MT_PY_UNSUPPORTED,     /* CPython of a version not in the table */
};

/* The module of a Python frame (struct mt_symbol.module). */
#define MT_PY_MODULE "[python]"

struct mt_pyver;

struct mt_pyinfo {
	enum mt_py_status status;
	int major, minor;           /* 0.0 when unknown */
	char note[128];             /* for the header: "CPython 3.11: Python
	                             * frames named", "Python frames: not
	                             * supported for CPython 3.14"; "" when none */
	uint64_t tstate;            /* where the agent starts for the current
	                             * thread state (agent_abi.h py_tstate) */
	uint64_t eval_lo, eval_hi;  /* _PyEval_EvalFrameDefault's code */
	uint64_t code_type, str_type, bytes_type; /* PyCode_Type & co */
	const struct mt_pyver *ver;
};

/* What PID runs, from its modules' symbols and memory.  Never fails:
 * OUT->status says. */
void mt_pyframes_detect(pid_t pid, struct mt_pyinfo *out);

/* The agent's Python fields of ST: the interpreter's when PY is MT_PY_OK,
 * else all 0 (no Python frames taken). */
void mt_pyframes_configure(const struct mt_pyinfo *py, struct mt_agent_state *st);

/* Whether PC is a Python frame's tagged pc. */
static inline int mt_pyframes_is_tagged(uint64_t pc)
{
	return (pc & MT_AGENT_PY_TAG) != 0;
}

struct mt_pyframes;

/* A namer for PID's tagged pcs; detects the interpreter on first use.
 * NULL when out of memory. */
struct mt_pyframes *mt_pyframes_new(pid_t pid);
void mt_pyframes_destroy(struct mt_pyframes *p);

/* Names the tagged pc PC: FUNC (the code's qualified name), FILE (its
 * co_filename) and *LINE (0 when unknown).  0, or -1 when the code object
 * cannot be read or is no code object (FUNC then "[python]").
 *
 * A pc named once keeps that name (up to 32768 pcs; past that they are read
 * each time): named while the process runs (mt_pyframes_learn), a frame
 * is still named after its code object was freed or the process ended.
 * What it cannot tell: a code object freed and another made at the same
 * address give the same tagged pcs, so the agent's stacks of both are
 * one stack already, named after the code first seen there (as
 * py-spy's and memray's caches by code address do). */
int mt_pyframes_name(struct mt_pyframes *p, uint64_t pc, char *func, size_t funclen,
		     char *file, size_t filelen, int *line);

/* Name PC now unless it was: 1 when it was named now, 0 when it was
 * already, -1 when it cannot be (not kept: tried again at the next call). */
int mt_pyframes_learn(struct mt_pyframes *p, uint64_t pc);

/* Pure: the line of the instruction at byte offset ADDR_BYTES in a 3.11
 * (to 3.13) location table TAB[0..LEN) of a code object starting at FIRSTLINE; 0
 * when the table says none or ends before. */
int mt_pyframes_line311(const uint8_t *tab, size_t len, int firstline, uint64_t addr_bytes);

/* The same for 3.9's co_lnotab (the line of the last entry at or before
 * ADDR_BYTES: never 0 unless FIRSTLINE is) and 3.10's co_linetable (0
 * where a range says no line or past the end). */
int mt_pyframes_line39(const uint8_t *tab, size_t len, int firstline, uint64_t addr_bytes);
int mt_pyframes_line310(const uint8_t *tab, size_t len, int firstline, uint64_t addr_bytes);

#endif
