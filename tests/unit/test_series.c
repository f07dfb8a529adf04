/* Unit tests for src/model/series.c: verdicts on synthetic series of live bytes
 * (one sample a second), their ranking, bounded memory under downsampling,
 * sparklines and edge cases.  Random series come from a fixed-seed generator,
 * so every run sees the same numbers. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"

#define KiB 1024.0
#define MiB (1024.0 * 1024.0)

static uint64_t rng_state;

static void seed(uint64_t s)
{
	rng_state = s * 0x9e3779b97f4a7c15ULL + 1;
}

/* Uniform in [0, 1). */
static double uniform(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Live bytes of sample I of N. */
typedef double (*shape_fn)(long i, long n);

static double steady_leak(long i, long n)
{
	(void)n;
	return 64.0 * (double)i;
}

/* 64 B per sample under up to 1 MiB of random churn. */
static double leak_under_noise(long i, long n)
{
	(void)n;
	return 64.0 * (double)i + uniform() * MiB;
}

/* 64 B per sample under a 1 MiB sawtooth of period 37: the lows are the leak. */
static double leak_under_sawtooth(long i, long n)
{
	(void)n;
	return 64.0 * (double)i + (double)(i % 37) / 36 * MiB;
}

/* Grows 64 B per sample for the first 30%, then holds, with 64 KiB of churn. */
static double grow_then_plateau(long i, long n)
{
	long stop = n * 3 / 10;
	return 64.0 * (double)(i < stop ? i : stop) + uniform() * 64 * KiB;
}

/* Allocated and freed in bursts: 0 to 100 KB and back, every 10 samples. */
static double churn_sawtooth(long i, long n)
{
	(void)n;
	return (double)(i % 10) * 100000.0 / 9;
}

/* The same churn, sampled at random phases. */
static double churn_random_phase(long i, long n)
{
	(void)i;
	(void)n;
	return (double)(long)(uniform() * 10) * 100000.0 / 9;
}

static double shrink(long i, long n)
{
	(void)n;
	return 4 * MiB - 256.0 * (double)i + uniform() * 16 * KiB;
}

static double random_noise(long i, long n)
{
	(void)i;
	(void)n;
	return MiB + uniform() * MiB;
}

static double constant(long i, long n)
{
	(void)i;
	(void)n;
	return 300 * KiB;
}

static double zero(long i, long n)
{
	(void)i;
	(void)n;
	return 0;
}

static struct mt_series *feed(shape_fn f, long n, uint64_t s)
{
	struct mt_series *se = mt_series_new();
	ck_assert_ptr_nonnull(se);
	seed(s);
	for (long i = 0; i < n; i++) {
		double v = f(i, n);
		mt_series_add(se, (double)i, v < 0 ? 0 : (uint64_t)v, (uint64_t)i);
	}
	return se;
}

static struct mt_trend_info verdict(shape_fn f, long n, uint64_t s)
{
	struct mt_series *se = feed(f, n, s);
	struct mt_trend_info ti;
	mt_series_trend(se, &ti);
	mt_series_destroy(se);
	return ti;
}

#define ck_assert_trend(ti, want, what)                                              \
	ck_assert_msg((ti).trend == (want), "%s: %s, wanted %s (rate %.1f, score %.3f)", \
		      (what), mt_trend_name((ti).trend), mt_trend_name(want),           \
		      (ti).rate_bytes_per_min, (ti).score)

/* ---- verdicts ------------------------------------------------------------- */

START_TEST(test_steady_leak)
{
	static const long lengths[] = { 4, 5, 6, 10, 100, 1000 };
	for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
		struct mt_trend_info ti = verdict(steady_leak, lengths[k], 1);
		char what[64];
		snprintf(what, sizeof what, "steady leak, %ld samples", lengths[k]);
		ck_assert_trend(ti, MT_TREND_GROWING, what);
		ck_assert_msg(ti.score > 0, "%s: score %f", what, ti.score);
		/* 64 B a second is 3840 B a minute. */
		ck_assert_double_eq_tol(ti.rate_bytes_per_min, 3840, 40);
	}
}
END_TEST

START_TEST(test_leak_under_churn)
{
	for (uint64_t s = 1; s <= 20; s++) {
		struct mt_trend_info ti = verdict(leak_under_noise, 3000, s);
		ck_assert_trend(ti, MT_TREND_GROWING, "leak under 1 MiB of random churn");
		ck_assert_double_eq_tol(ti.rate_bytes_per_min, 3840, 400);
	}
	struct mt_trend_info ti = verdict(leak_under_sawtooth, 1000, 1);
	ck_assert_trend(ti, MT_TREND_GROWING, "leak under a 1 MiB sawtooth");
	ck_assert_double_eq_tol(ti.rate_bytes_per_min, 3840, 100);
}
END_TEST

START_TEST(test_plateau)
{
	for (uint64_t s = 1; s <= 20; s++) {
		struct mt_trend_info ti = verdict(grow_then_plateau, 3000, s);
		ck_assert_trend(ti, MT_TREND_PLATEAU, "grew, then flat under churn");
		ck_assert_msg(ti.score == 0, "plateau score %f", ti.score);
		/* The rate is the later half's: about nothing. */
		ck_assert_double_lt(ti.rate_bytes_per_min, 200);
	}
}
END_TEST


/* A short, clean ramp then flat (what attach sees at a short interval): the
 * ramp must not count as noise that hides the plateau. */
START_TEST(test_short_clean_plateau)
{
	static const uint64_t v[] = { 30720, 61440, 92160, 122880, 153600, 184320, 204800,
				      204800, 204800, 204800, 204800, 204800, 204800, 204800,
				      204800, 204800, 204800, 204800, 204800, 204800 };
	struct mt_series *s = mt_series_new();
	for (int i = 0; i < 20; i++)
		mt_series_add(s, 0.3 * (i + 1), v[i], v[i] / 1024);
	struct mt_trend_info ti;
	mt_series_trend(s, &ti);
	ck_assert_str_eq(mt_trend_name(ti.trend), "plateau");
	mt_series_destroy(s);
}
END_TEST

START_TEST(test_churn_never_growing)
{
	static const long lengths[] = { 12, 20, 50, 100, 1000, 10000 };
	for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
		struct mt_trend_info ti = verdict(churn_sawtooth, lengths[k], 1);
		ck_assert_trend(ti, MT_TREND_FLUCTUATING, "churn sawtooth 0..100 KB");
		ck_assert_msg(ti.score <= 0, "score %f", ti.score);
		for (uint64_t s = 1; s <= 50; s++) {
			ti = verdict(churn_random_phase, lengths[k], s);
			ck_assert_msg(ti.trend == MT_TREND_FLUCTUATING || ti.trend == MT_TREND_FLAT,
				      "random-phase churn, %ld samples, seed %llu: %s", lengths[k],
				      (unsigned long long)s, mt_trend_name(ti.trend));
		}
	}
}
END_TEST

START_TEST(test_shrinking)
{
	struct mt_trend_info ti = verdict(shrink, 3000, 1);
	ck_assert_trend(ti, MT_TREND_SHRINKING, "freeing 256 B a second");
	ck_assert_double_lt(ti.score, 0);
	ck_assert_double_eq_tol(ti.rate_bytes_per_min, -256 * 60, 300);
}
END_TEST

START_TEST(test_random_noise)
{
	/* Swings of 1 MiB on 1 MiB: fluctuating; never growing, whatever the
	 * seed or the length. */
	static const long lengths[] = { 4, 5, 6, 8, 12, 30, 100, 1000 };
	for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
		int growing = 0;
		for (uint64_t s = 1; s <= 100; s++) {
			struct mt_trend_info ti = verdict(random_noise, lengths[k], s);
			growing += ti.trend == MT_TREND_GROWING;
			ck_assert_msg(ti.trend != MT_TREND_GROWING || ti.score < 3,
				      "noise with a strong score %f", ti.score);
		}
		ck_assert_msg(growing <= 1, "noise of %ld samples: %d of 100 growing", lengths[k],
			      growing);
	}
	struct mt_trend_info ti = verdict(random_noise, 1000, 7);
	ck_assert_trend(ti, MT_TREND_FLUCTUATING, "random noise");
	ck_assert_msg(ti.score == 0, "score %f", ti.score);
}
END_TEST

START_TEST(test_flat)
{
	struct mt_trend_info ti = verdict(constant, 500, 1);
	ck_assert_trend(ti, MT_TREND_FLAT, "constant");
	ck_assert_msg(ti.score == 0 && ti.rate_bytes_per_min == 0, "score %f rate %f", ti.score,
		      ti.rate_bytes_per_min);
	ti = verdict(zero, 500, 1);
	ck_assert_trend(ti, MT_TREND_FLAT, "constant zero");
	ck_assert_msg(ti.score == 0 && ti.rate_bytes_per_min == 0, "score %f rate %f", ti.score,
		      ti.rate_bytes_per_min);

	/* 64 B a second on a 100 MiB base for 100 s is 0.006% of the level:
	 * flat, not growing. */
	struct mt_series *se = mt_series_new();
	for (int i = 0; i < 100; i++)
		mt_series_add(se, i, 100 * (uint64_t)MiB + 64 * (uint64_t)i, 1000);
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_FLAT, "tiny growth on a large base");
	mt_series_destroy(se);
}
END_TEST

/* ---- ranking -------------------------------------------------------------- */

struct ranked {
	const char *name;
	struct mt_trend_info ti;
};

static int by_score(const void *a, const void *b)
{
	double x = ((const struct ranked *)a)->ti.score, y = ((const struct ranked *)b)->ti.score;
	return (x < y) - (x > y);
}

START_TEST(test_ranking)
{
	/* A small clean leak outranks a large noisy one, and both outrank a
	 * huge site that merely churns: evidence, not size. */
	struct ranked r[] = {
		{ "churn", verdict(random_noise, 3000, 3) },
		{ "shrink", verdict(shrink, 3000, 3) },
		{ "noisy leak", verdict(leak_under_noise, 3000, 3) },
		{ "plateau", verdict(grow_then_plateau, 3000, 3) },
		{ "clean leak", verdict(steady_leak, 3000, 3) },
		{ "flat", verdict(constant, 3000, 3) },
	};
	qsort(r, sizeof r / sizeof *r, sizeof *r, by_score);
	ck_assert_str_eq(r[0].name, "clean leak");
	ck_assert_str_eq(r[1].name, "noisy leak");
	ck_assert_str_eq(r[5].name, "shrink");
	ck_assert_double_gt(r[1].ti.score, 0);
	for (int i = 2; i < 5; i++)
		ck_assert_msg(r[i].ti.score == 0, "%s: %f", r[i].name, r[i].ti.score);

	/* The longer a leak is watched, the stronger the evidence. */
	double s100 = verdict(leak_under_noise, 1500, 4).score;
	double s10k = verdict(leak_under_noise, 10000, 4).score;
	ck_assert_msg(s100 > 0 && s10k > s100, "scores %f then %f", s100, s10k);

	/* A leak from nothing before the same leak on a large base. */
	struct mt_series *a = mt_series_new(), *b = mt_series_new();
	for (int i = 0; i < 1000; i++) {
		mt_series_add(a, i, 1000 * (uint64_t)i, 1);
		mt_series_add(b, i, 10 * (uint64_t)MiB + 1000 * (uint64_t)i, 1);
	}
	struct mt_trend_info ta, tb;
	mt_series_trend(a, &ta);
	mt_series_trend(b, &tb);
	ck_assert_trend(ta, MT_TREND_GROWING, "leak from 0");
	ck_assert_trend(tb, MT_TREND_GROWING, "leak on 10 MiB");
	ck_assert_double_gt(ta.score, tb.score);
	mt_series_destroy(a);
	mt_series_destroy(b);
}
END_TEST

/* ---- bounded memory --------------------------------------------------------- */

START_TEST(test_downsampling)
{
	struct mt_series *se = mt_series_new();
	size_t full = 0;
	for (long i = 0; i < 100000; i++) {
		mt_series_add(se, (double)i, 64 * (uint64_t)i, (uint64_t)i);
		if (i == MT_SERIES_MAX_POINTS - 1)
			full = mt_series_memory(se);
		else if (i >= MT_SERIES_MAX_POINTS)
			ck_assert_uint_eq(mt_series_memory(se), full);
	}
	ck_assert_uint_eq(mt_series_samples(se), 100000);
	ck_assert_uint_ge(full, MT_SERIES_MAX_POINTS * 48);
	ck_assert_uint_le(full, MT_SERIES_MAX_POINTS * 64 + 64);
	struct mt_trend_info ti;
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_GROWING, "steady leak after 100k samples");
	ck_assert_double_eq_tol(ti.rate_bytes_per_min, 3840, 40);
	mt_series_destroy(se);

	/* Buckets keep their lows: a leak visible only at the bottom of a
	 * sawtooth survives the merging, and churn stays churn. */
	struct mt_trend_info t1 = verdict(leak_under_sawtooth, 100000, 1);
	ck_assert_trend(t1, MT_TREND_GROWING, "sawtooth leak after 100k samples");
	ck_assert_double_eq_tol(t1.rate_bytes_per_min, 3840, 40);
	t1 = verdict(leak_under_noise, 100000, 1);
	ck_assert_trend(t1, MT_TREND_GROWING, "noisy leak after 100k samples");
	t1 = verdict(churn_sawtooth, 100000, 1);
	ck_assert_trend(t1, MT_TREND_FLUCTUATING, "churn after 100k samples");
	t1 = verdict(grow_then_plateau, 100000, 1);
	ck_assert_trend(t1, MT_TREND_PLATEAU, "plateau after 100k samples");
	t1 = verdict(shrink, 10000, 1);
	ck_assert_trend(t1, MT_TREND_SHRINKING, "shrink after 10k samples");
}
END_TEST

START_TEST(test_memory_small_series)
{
	ck_assert_uint_eq(mt_series_memory(NULL), 0);
	struct mt_series *se = mt_series_new();
	size_t empty = mt_series_memory(se);
	ck_assert_uint_gt(empty, 0);
	mt_series_add(se, 0, 1, 1);
	ck_assert_uint_eq(mt_series_memory(se), empty);   /* room for the first points */
	for (int i = 1; i < 1000; i++)
		mt_series_add(se, i, 1, 1);
	ck_assert_uint_gt(mt_series_memory(se), empty);
	mt_series_destroy(se);
}
END_TEST

/* ---- sparkline ---------------------------------------------------------------- */

/* The level (0..7) of each cell of a sparkline; -1 on a byte that is not one. */
static int cells(const char *s, int *levels, int max)
{
	int n = 0;
	size_t len = strlen(s);
	if (len % 3)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		const unsigned char *c = (const unsigned char *)s + i;
		if (c[0] != 0xe2 || c[1] != 0x96 || c[2] < 0x81 || c[2] > 0x88 || n >= max)
			return -1;
		levels[n++] = c[2] - 0x81;
	}
	return n;
}

START_TEST(test_sparkline)
{
	char buf[256];
	int lv[64];

	struct mt_series *se = feed(steady_leak, 1000, 1);
	mt_series_sparkline(se, 20, buf, sizeof buf);
	ck_assert_int_eq(cells(buf, lv, 64), 20);
	ck_assert_uint_eq(strlen(buf), 60);
	for (int i = 1; i < 20; i++)
		ck_assert_int_ge(lv[i], lv[i - 1]);   /* a leak only climbs */
	ck_assert_int_le(lv[0], 1);
	ck_assert_int_eq(lv[19], 7);
	ck_assert_str_eq(buf + 57, "\xe2\x96\x88");   /* ends on a full block */

	/* Only whole cells, always terminated. */
	mt_series_sparkline(se, 20, buf, 10);
	ck_assert_int_eq(cells(buf, lv, 64), 3);
	mt_series_sparkline(se, 20, buf, 3);
	ck_assert_str_eq(buf, "");
	buf[0] = 'x';
	mt_series_sparkline(se, 20, buf, 0);
	ck_assert_int_eq(buf[0], 'x');
	mt_series_sparkline(se, 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "");
	mt_series_destroy(se);

	/* After downsampling: still WIDTH cells over the whole span. */
	se = feed(steady_leak, 100000, 1);
	mt_series_sparkline(se, 30, buf, sizeof buf);
	ck_assert_int_eq(cells(buf, lv, 64), 30);
	for (int i = 1; i < 30; i++)
		ck_assert_int_ge(lv[i], lv[i - 1]);
	ck_assert_int_le(lv[0], 1);
	ck_assert_int_ge(lv[14], 3);   /* the old half is not squashed */
	ck_assert_int_le(lv[14], 4);
	mt_series_destroy(se);

	/* Fewer points than cells: one per point. */
	se = mt_series_new();
	mt_series_add(se, 0, 0, 0);
	mt_series_add(se, 1, 700, 1);
	mt_series_add(se, 2, 350, 1);
	mt_series_sparkline(se, 20, buf, sizeof buf);
	ck_assert_str_eq(buf, "\xe2\x96\x81\xe2\x96\x88\xe2\x96\x85");
	mt_series_destroy(se);

	/* Constant: mid-height; constant zero: the floor. */
	se = feed(constant, 50, 1);
	mt_series_sparkline(se, 5, buf, sizeof buf);
	ck_assert_str_eq(buf, "\xe2\x96\x84\xe2\x96\x84\xe2\x96\x84\xe2\x96\x84\xe2\x96\x84");
	mt_series_destroy(se);
	se = feed(zero, 50, 1);
	mt_series_sparkline(se, 5, buf, sizeof buf);
	ck_assert_str_eq(buf, "\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81");
	mt_series_destroy(se);

	/* Empty. */
	se = mt_series_new();
	strcpy(buf, "junk");
	mt_series_sparkline(se, 10, buf, sizeof buf);
	ck_assert_str_eq(buf, "");
	mt_series_destroy(se);
	strcpy(buf, "junk");
	mt_series_sparkline(NULL, 10, buf, sizeof buf);
	ck_assert_str_eq(buf, "");
}
END_TEST

/* ---- edge cases ---------------------------------------------------------------- */

START_TEST(test_few_samples)
{
	struct mt_trend_info ti;
	struct mt_series *se = mt_series_new();

	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_FLAT, "no samples");
	ck_assert_msg(ti.score == 0 && ti.rate_bytes_per_min == 0, "empty");

	mt_series_add(se, 0, 5 * (uint64_t)MiB, 10);
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_FLAT, "one sample");
	ck_assert_msg(ti.score == 0 && ti.rate_bytes_per_min == 0, "one sample");

	/* Two samples: doubling a few KiB is no verdict yet ... */
	struct mt_series *small = mt_series_new();
	mt_series_add(small, 0, 4096, 1);
	mt_series_add(small, 10, 8192, 2);
	mt_series_trend(small, &ti);
	ck_assert_trend(ti, MT_TREND_FLAT, "two samples, 4 KiB more");
	ck_assert_double_eq_tol(ti.rate_bytes_per_min, 4096 * 6, 1e-6);
	mt_series_destroy(small);

	/* ... 5 MiB to 50 MiB is. */
	mt_series_add(se, 10, 50 * (uint64_t)MiB, 100);
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_GROWING, "two samples, 5 to 50 MiB");
	ck_assert_double_gt(ti.score, 0);
	double early = ti.score;

	mt_series_add(se, 20, 2 * (uint64_t)MiB, 100);
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_SHRINKING, "three samples, back to 2 MiB");
	ck_assert_double_lt(ti.score, 0);
	mt_series_destroy(se);

	/* Evidence from 3 samples ranks below any judged on windows. */
	struct mt_trend_info leak = verdict(steady_leak, 6, 1);
	ck_assert_trend(leak, MT_TREND_GROWING, "six samples of a leak");
	ck_assert_double_gt(leak.score, early);

	/* Constant zero, any length. */
	for (long n = 0; n < 10; n++) {
		ti = verdict(zero, n, 1);
		ck_assert_trend(ti, MT_TREND_FLAT, "zero");
		ck_assert_msg(ti.score == 0 && ti.rate_bytes_per_min == 0, "zero, %ld", n);
	}
}
END_TEST

START_TEST(test_odd_input)
{
	struct mt_trend_info ti;
	mt_series_trend(NULL, &ti);
	ck_assert_trend(ti, MT_TREND_FLAT, "NULL");
	mt_series_add(NULL, 0, 1, 1);
	mt_series_destroy(NULL);
	ck_assert_uint_eq(mt_series_samples(NULL), 0);

	/* Every sample at the same time, or time running backwards: no
	 * division by zero, no rate out of nowhere. */
	struct mt_series *se = mt_series_new();
	for (int i = 0; i < 1000; i++)
		mt_series_add(se, 5, 64 * (uint64_t)i, 1);
	mt_series_trend(se, &ti);
	ck_assert_msg(ti.rate_bytes_per_min == 0, "rate %f", ti.rate_bytes_per_min);
	char buf[64];
	mt_series_sparkline(se, 8, buf, sizeof buf);
	ck_assert_uint_eq(strlen(buf), 24);
	mt_series_destroy(se);

	se = mt_series_new();
	for (int i = 0; i < 600; i++)
		mt_series_add(se, i % 2 ? 1000.0 - i : i, 64 * (uint64_t)i, 1);
	mt_series_trend(se, &ti);
	ck_assert_msg(ti.rate_bytes_per_min >= 0, "rate %f", ti.rate_bytes_per_min);
	mt_series_destroy(se);

	/* A NaN time, first or later, is no time at all. */
	se = mt_series_new();
	mt_series_add(se, NAN, 1, 1);
	for (int i = 1; i < 100; i++)
		mt_series_add(se, i % 7 ? i : NAN, 64 * (uint64_t)i, 1);
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_GROWING, "leak with NaN times");
	ck_assert_msg(ti.rate_bytes_per_min == ti.rate_bytes_per_min, "NaN rate");
	mt_series_destroy(se);

	/* Values near the top of uint64_t. */
	se = mt_series_new();
	for (int i = 0; i < 300; i++)
		mt_series_add(se, i, UINT64_MAX - 1000000 + 64 * (uint64_t)i, 1);
	mt_series_trend(se, &ti);
	ck_assert_trend(ti, MT_TREND_FLAT, "tiny change at the top of the range");
	mt_series_sparkline(se, 8, buf, sizeof buf);
	ck_assert_uint_eq(strlen(buf), 24);
	mt_series_destroy(se);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(mt_trend_name(MT_TREND_FLAT), "flat");
	ck_assert_str_eq(mt_trend_name(MT_TREND_GROWING), "growing");
	ck_assert_str_eq(mt_trend_name(MT_TREND_PLATEAU), "plateau");
	ck_assert_str_eq(mt_trend_name(MT_TREND_FLUCTUATING), "fluctuating");
	ck_assert_str_eq(mt_trend_name(MT_TREND_SHRINKING), "shrinking");
	ck_assert_str_eq(mt_trend_name((enum mt_trend)42), "?");
}
END_TEST

static Suite *series_suite(void)
{
	Suite *s = suite_create("series");
	TCase *tc = tcase_create("verdicts");
	tcase_add_test(tc, test_steady_leak);
	tcase_add_test(tc, test_leak_under_churn);
	tcase_add_test(tc, test_plateau);
	tcase_add_test(tc, test_short_clean_plateau);
	tcase_add_test(tc, test_churn_never_growing);
	tcase_add_test(tc, test_shrinking);
	tcase_add_test(tc, test_random_noise);
	tcase_add_test(tc, test_flat);
	tcase_add_test(tc, test_ranking);
	suite_add_tcase(s, tc);
	tc = tcase_create("memory");
	tcase_add_test(tc, test_downsampling);
	tcase_add_test(tc, test_memory_small_series);
	suite_add_tcase(s, tc);
	tc = tcase_create("output");
	tcase_add_test(tc, test_sparkline);
	tcase_add_test(tc, test_few_samples);
	tcase_add_test(tc, test_odd_input);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(series_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
