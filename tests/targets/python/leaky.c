/* leaky: a CPython extension module whose leak(n) mallocs n bytes in its
 * own code (tensor_new) and keeps the block, as a C extension that never
 * frees its buffers would.  Built by tests/e2e/test_pycext.py at test
 * time against Debian's python3 headers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#define KEEP 100000

static void *kept[KEEP];
static int nkept;

__attribute__((noinline)) static void *tensor_new(size_t n)
{
	void *p = malloc(n);
	if (p)
		memset(p, 1, n);
	return p;
}

static PyObject *leak(PyObject *self, PyObject *args)
{
	(void)self;
	Py_ssize_t n;
	if (!PyArg_ParseTuple(args, "n", &n) || n <= 0)
		return NULL;
	void *p = tensor_new((size_t)n);
	if (!p)
		return PyErr_NoMemory();
	if (nkept < KEEP)
		kept[nkept++] = p;
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{ "leak", leak, METH_VARARGS, "malloc N bytes and keep them" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = { PyModuleDef_HEAD_INIT, "leaky", NULL, -1, methods };

PyMODINIT_FUNC PyInit_leaky(void);
PyMODINIT_FUNC PyInit_leaky(void)
{
	return PyModule_Create(&module);
}
