"""Target of test_pymalloc.py, run by Debian's /usr/bin/python3 (-I):
CPython's allocator API called through ctypes, whose calls all return to
one place in libffi (ffi_call_unix64): that one site must have exactly
the blocks this script keeps.  Protocol (harness.py): "ready PID", waits
for "go", works, prints "expect ..." lines and "done", then waits for
"more": calls the API again (memtrace detached, the entries restored),
prints "after ok" and exits 0 on "exit"."""
import ctypes
import os
import sys

api = ctypes.pythonapi
VP, SZ = ctypes.c_void_p, ctypes.c_size_t
for name, args, res in (('PyObject_Malloc', [SZ], VP), ('PyObject_Calloc', [SZ, SZ], VP),
                        ('PyObject_Realloc', [VP, SZ], VP), ('PyObject_Free', [VP], None),
                        ('PyMem_Malloc', [SZ], VP), ('PyMem_Calloc', [SZ, SZ], VP),
                        ('PyMem_Realloc', [VP, SZ], VP), ('PyMem_Free', [VP], None)):
    fn = getattr(api, name)
    fn.argtypes, fn.restype = args, res

N_OBJ, OBJ_SIZE = 300, 200          # pymalloc serves these (<= 512 bytes)
N_MEM, MEM_SIZE = 120, 184          # PyMem_Malloc: pymalloc too (3.6 and later)
N_CALLOC = 50                       # PyObject_Calloc(3, 56): 168 bytes
N_REALLOC = 40                      # PyObject_Realloc(PyObject_Malloc(40), 232)
N_MEMRE = 30                        # PyMem_Realloc(PyMem_Calloc(2, 24), 136)
N_FREED = 70                        # PyObject_Malloc(72), then PyObject_Free
N_MEMFREED = 25                     # PyMem_Malloc(88), then PyMem_Free
N_BIG, BIG_SIZE = 20, 4000          # over 512 bytes: calls malloc inside
N_BEFORE = 60                       # made before attach, freed while traced


def check(p, what):
    if not p:
        print(f'error: {what} returned NULL', flush=True)
        sys.exit(3)
    return p


def work():
    """The blocks kept, each with the function that frees it."""
    keep = []
    obj, mem = api.PyObject_Free, api.PyMem_Free
    for _ in range(N_OBJ):
        keep.append((obj, check(api.PyObject_Malloc(OBJ_SIZE), 'PyObject_Malloc')))
    for _ in range(N_MEM):
        keep.append((mem, check(api.PyMem_Malloc(MEM_SIZE), 'PyMem_Malloc')))
    for _ in range(N_CALLOC):
        keep.append((obj, check(api.PyObject_Calloc(3, 56), 'PyObject_Calloc')))
    for _ in range(N_REALLOC):
        p = check(api.PyObject_Malloc(40), 'PyObject_Malloc')
        keep.append((obj, check(api.PyObject_Realloc(p, 232), 'PyObject_Realloc')))
    for _ in range(N_MEMRE):
        p = check(api.PyMem_Calloc(2, 24), 'PyMem_Calloc')
        keep.append((mem, check(api.PyMem_Realloc(p, 136), 'PyMem_Realloc')))
    for _ in range(N_FREED):
        obj(check(api.PyObject_Malloc(72), 'PyObject_Malloc'))
    for _ in range(N_MEMFREED):
        mem(check(api.PyMem_Malloc(88), 'PyMem_Malloc'))
    for _ in range(N_BIG):
        keep.append((obj, check(api.PyObject_Malloc(BIG_SIZE), 'PyObject_Malloc')))
    return keep


def main():
    before = [check(api.PyObject_Malloc(96), 'PyObject_Malloc') for _ in range(N_BEFORE)]
    print(f'ready {os.getpid()}', flush=True)
    if sys.stdin.readline().strip() != 'go':
        sys.exit(2)
    for p in before:
        api.PyObject_Free(p)
    keep = work()
    allocs = (N_OBJ + N_MEM + N_CALLOC + 2 * N_REALLOC + 2 * N_MEMRE + N_FREED + N_MEMFREED
              + N_BIG)
    live_bytes = (N_OBJ * OBJ_SIZE + N_MEM * MEM_SIZE + N_CALLOC * 168 + N_REALLOC * 232
                  + N_MEMRE * 136 + N_BIG * BIG_SIZE)
    print(f'expect function=ffi_call_unix64 live_blocks={len(keep)} live_bytes={live_bytes} '
          f'allocs={allocs} frees={allocs - len(keep)}')
    print(f'info freed_before={N_BEFORE} big_size={BIG_SIZE}')
    print('done checksum=0', flush=True)
    if sys.stdin.readline().strip() != 'more':
        sys.exit(2)
    for free, p in keep + work():
        free(p)
    print('after ok', flush=True)
    if sys.stdin.readline().strip() != 'exit':
        sys.exit(2)


main()
