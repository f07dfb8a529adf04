/* The JNI library of InferenceService.java: a tensor per call, kept by the
 * caller (the leak memtrace must name by its Java caller). */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void *tl_tensor_alloc(size_t n)
{
	void *p = malloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

JNIEXPORT jlong JNICALL Java_InferenceService_createTensor(JNIEnv *env, jclass cls, jint bytes)
{
	(void)env;
	(void)cls;
	return (jlong)(uintptr_t)tl_tensor_alloc((size_t)bytes);
}

JNIEXPORT void JNICALL Java_InferenceService_freeTensor(JNIEnv *env, jclass cls, jlong tensor)
{
	(void)env;
	(void)cls;
	free((void *)(uintptr_t)tensor);
}
