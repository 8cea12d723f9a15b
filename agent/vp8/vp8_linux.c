//go:build linux && cgo

// libvpx is not linked: it is opened with dlopen, and only its headers are
// compiled in. A missing or mismatched library makes tvp8_load fail, and the
// agent keeps to its tile path.

#include <dlfcn.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

#include "vp8_linux.h"

static struct {
	int loaded;
	char err[200];
	vpx_codec_iface_t *(*cx)(void);
	vpx_codec_iface_t *(*dx)(void);
	vpx_codec_err_t (*enc_config_default)(vpx_codec_iface_t *, vpx_codec_enc_cfg_t *, unsigned int);
	vpx_codec_err_t (*enc_init_ver)(vpx_codec_ctx_t *, vpx_codec_iface_t *, const vpx_codec_enc_cfg_t *, vpx_codec_flags_t, int);
	vpx_codec_err_t (*enc_config_set)(vpx_codec_ctx_t *, const vpx_codec_enc_cfg_t *);
	vpx_codec_err_t (*encode)(vpx_codec_ctx_t *, const vpx_image_t *, vpx_codec_pts_t, unsigned long, vpx_enc_frame_flags_t, unsigned long);
	const vpx_codec_cx_pkt_t *(*get_cx_data)(vpx_codec_ctx_t *, vpx_codec_iter_t *);
	vpx_codec_err_t (*dec_init_ver)(vpx_codec_ctx_t *, vpx_codec_iface_t *, const vpx_codec_dec_cfg_t *, vpx_codec_flags_t, int);
	vpx_codec_err_t (*decode)(vpx_codec_ctx_t *, const uint8_t *, unsigned int, void *, long);
	vpx_image_t *(*get_frame)(vpx_codec_ctx_t *, vpx_codec_iter_t *);
	vpx_codec_err_t (*control)(vpx_codec_ctx_t *, int, ...);
	const char *(*error)(vpx_codec_ctx_t *);
	vpx_codec_err_t (*destroy)(vpx_codec_ctx_t *);
	vpx_image_t *(*img_alloc)(vpx_image_t *, vpx_img_fmt_t, unsigned int, unsigned int, unsigned int);
	void (*img_free)(vpx_image_t *);
} vpx;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

int tvp8_load(char *err, int errlen) {
	pthread_mutex_lock(&load_mu);
	if (vpx.loaded) {
		int ok = vpx.loaded > 0;
		if (!ok)
			snprintf(err, errlen, "%s", vpx.err);
		pthread_mutex_unlock(&load_mu);
		return ok ? 0 : -1;
	}
	vpx.loaded = -1;
	// The sonames of the releases whose ABI these headers describe; a
	// mismatch is caught by the *_init_ver calls' ABI check.
	static const char *names[] = {"libvpx.so.7", "libvpx.so.8", "libvpx.so.9", "libvpx.so.6", NULL};
	void *h = NULL;
	for (int i = 0; names[i] != NULL && h == NULL; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(vpx.err, sizeof vpx.err, "loading libvpx: %s", dlerror());
		goto fail;
	}
#define SYM(field, name)                                                       \
	if ((*(void **)&vpx.field = dlsym(h, name)) == NULL) {                   \
		snprintf(vpx.err, sizeof vpx.err, "libvpx has no %s", name);          \
		goto fail;                                                           \
	}
	SYM(cx, "vpx_codec_vp8_cx");
	SYM(dx, "vpx_codec_vp8_dx");
	SYM(enc_config_default, "vpx_codec_enc_config_default");
	SYM(enc_init_ver, "vpx_codec_enc_init_ver");
	SYM(enc_config_set, "vpx_codec_enc_config_set");
	SYM(encode, "vpx_codec_encode");
	SYM(get_cx_data, "vpx_codec_get_cx_data");
	SYM(dec_init_ver, "vpx_codec_dec_init_ver");
	SYM(decode, "vpx_codec_decode");
	SYM(get_frame, "vpx_codec_get_frame");
	SYM(control, "vpx_codec_control_");
	SYM(error, "vpx_codec_error");
	SYM(destroy, "vpx_codec_destroy");
	SYM(img_alloc, "vpx_img_alloc");
	SYM(img_free, "vpx_img_free");
#undef SYM
	vpx.loaded = 1;
	pthread_mutex_unlock(&load_mu);
	return 0;
fail:
	snprintf(err, errlen, "%s", vpx.err);
	pthread_mutex_unlock(&load_mu);
	return -1;
}

struct tvp8_enc {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	vpx_image_t *img;
	int w, h;  // the picture's size; the encoded one is rounded up to even
	int scale; // 1, or 2: the picture is encoded at half its width and height
	uint8_t *out;
	size_t outcap;
	// active: the macroblocks tvp8_enc_load_blocks converted, the others
	// unchanged; active_next: the next frame encodes only those;
	// active_on: libvpx has the map.
	uint8_t *active;
	int active_next, active_on;
	int64_t cpu_ns; // this thread's CPU time in load and encode calls, in all
};

static int64_t thread_cpu_ns(void) {
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(char *err, int errlen, const char *what, vpx_codec_ctx_t *ctx) {
	snprintf(err, errlen, "%s: %s", what, ctx != NULL ? vpx.error(ctx) : "failed");
}

tvp8_enc *tvp8_enc_new(int w, int h, int scale, int kbps, int threads, int speed, char *err, int errlen) {
	tvp8_enc *e = calloc(1, sizeof *e);
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->w = w;
	e->h = h;
	e->scale = scale == 2 ? 2 : 1;
	int sw = (w + e->scale - 1) / e->scale, sh = (h + e->scale - 1) / e->scale;
	int ew = (sw + 1) & ~1, eh = (sh + 1) & ~1;
	if (vpx.enc_config_default(vpx.cx(), &e->cfg, 0) != VPX_CODEC_OK) {
		snprintf(err, errlen, "vp8: no default configuration");
		free(e);
		return NULL;
	}
	vpx_codec_enc_cfg_t *c = &e->cfg;
	c->g_w = ew;
	c->g_h = eh;
	c->g_threads = threads;
	c->g_timebase.num = 1;
	c->g_timebase.den = 1000; // pts in milliseconds
	c->g_lag_in_frames = 0;   // no look-ahead: each frame out as it goes in
	c->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	c->g_pass = VPX_RC_ONE_PASS;
	c->rc_end_usage = VPX_CBR;
	c->rc_target_bitrate = kbps;
	c->rc_min_quantizer = 4;
	c->rc_max_quantizer = 56;
	c->rc_undershoot_pct = 100;
	c->rc_overshoot_pct = 15;
	c->rc_buf_initial_sz = 500;
	c->rc_buf_optimal_sz = 600;
	c->rc_buf_sz = 1000;
	c->rc_dropframe_thresh = 0;
	// Key frames only when asked (a new viewer, a lost picture): one is
	// large, and a periodic one costs a burst on the link for nothing.
	c->kf_mode = VPX_KF_AUTO;
	c->kf_max_dist = 100000;
	if (vpx.enc_init_ver(&e->ctx, vpx.cx(), c, 0, VPX_ENCODER_ABI_VERSION) != VPX_CODEC_OK) {
		fail(err, errlen, "vp8: starting the encoder", &e->ctx);
		free(e);
		return NULL;
	}
	vpx.control(&e->ctx, VP8E_SET_CPUUSED, speed);
	vpx.control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1);
	vpx.control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0);
	vpx.control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, threads > 1 ? VP8_TWO_TOKENPARTITION : VP8_ONE_TOKENPARTITION);
	// A key frame at most three times an average frame: it must not
	// stall the link when a viewer asks for one.
	vpx.control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 300);
	e->img = vpx.img_alloc(NULL, VPX_IMG_FMT_I420, ew, eh, 16);
	if (e->img == NULL) {
		snprintf(err, errlen, "vp8: no picture buffer for %dx%d", ew, eh);
		vpx.destroy(&e->ctx);
		free(e);
		return NULL;
	}
	return e;
}

// rgba_to_i420 converts the part x0..x1 x y0..y1 of the encoded picture
// (even bounds) to BT.601 limited range, what a browser assumes of a VP8
// stream that says nothing of its colours. Columns and rows past the
// picture (the encoded size is even) repeat its last ones.
static void rgba_to_i420(vpx_image_t *img, const uint8_t *rgba, int stride, int w, int h,
                         int x0, int y0, int x1, int y1) {
	for (int y = y0; y < y1; y++) {
		const uint8_t *row = rgba + (size_t)(y < h ? y : h - 1) * stride;
		uint8_t *Y = img->planes[VPX_PLANE_Y] + (size_t)y * img->stride[VPX_PLANE_Y];
		for (int x = x0; x < x1; x++) {
			const uint8_t *p = row + 4 * (x < w ? x : w - 1);
			Y[x] = (uint8_t)((66 * p[0] + 129 * p[1] + 25 * p[2] + 128) >> 8) + 16;
		}
	}
	for (int y = y0 / 2; y < y1 / 2; y++) {
		const uint8_t *r0 = rgba + (size_t)(2 * y < h ? 2 * y : h - 1) * stride;
		const uint8_t *r1 = rgba + (size_t)(2 * y + 1 < h ? 2 * y + 1 : h - 1) * stride;
		uint8_t *U = img->planes[VPX_PLANE_U] + (size_t)y * img->stride[VPX_PLANE_U];
		uint8_t *V = img->planes[VPX_PLANE_V] + (size_t)y * img->stride[VPX_PLANE_V];
		for (int x = x0 / 2; x < x1 / 2; x++) {
			int xa = 2 * x < w ? 2 * x : w - 1, xb = 2 * x + 1 < w ? 2 * x + 1 : w - 1;
			const uint8_t *a = r0 + 4 * xa, *b = r0 + 4 * xb, *c = r1 + 4 * xa, *d = r1 + 4 * xb;
			int r = a[0] + b[0] + c[0] + d[0], g = a[1] + b[1] + c[1] + d[1], bl = a[2] + b[2] + c[2] + d[2];
			U[x] = (uint8_t)(((-38 * r - 74 * g + 112 * bl + 512) >> 10) + 128);
			V[x] = (uint8_t)(((112 * r - 94 * g - 18 * bl + 512) >> 10) + 128);
		}
	}
}

// rgba_half_to_i420 converts the w x h picture at half its width and
// height in one pass: each encoded pixel is the mean of a 2x2 block, each
// chroma sample that of a 4x4 block. Past the picture's edge its last row
// and column repeat.
static void rgba_half_to_i420(vpx_image_t *img, const uint8_t *rgba, int stride, int w, int h) {
	int ew = img->d_w, eh = img->d_h;
	for (int oy = 0; oy < eh; oy += 2) {
		const uint8_t *r[4];
		for (int i = 0; i < 4; i++) {
			int y = 2 * oy + i;
			r[i] = rgba + (size_t)(y < h ? y : h - 1) * stride;
		}
		uint8_t *Y0 = img->planes[VPX_PLANE_Y] + (size_t)oy * img->stride[VPX_PLANE_Y];
		uint8_t *Y1 = Y0 + img->stride[VPX_PLANE_Y];
		uint8_t *U = img->planes[VPX_PLANE_U] + (size_t)(oy / 2) * img->stride[VPX_PLANE_U];
		uint8_t *V = img->planes[VPX_PLANE_V] + (size_t)(oy / 2) * img->stride[VPX_PLANE_V];
		for (int ox = 0; ox < ew; ox += 2) {
			int cx[4];
			for (int i = 0; i < 4; i++) {
				int x = 2 * ox + i;
				cx[i] = 4 * (x < w ? x : w - 1);
			}
			int cr = 0, cg = 0, cb = 0;
			for (int q = 0; q < 4; q++) { // the four 2x2 blocks: (0,0) (1,0) (0,1) (1,1)
				int dx = 2 * (q & 1), dy = 2 * (q >> 1);
				const uint8_t *a = r[dy] + cx[dx], *b = r[dy] + cx[dx + 1];
				const uint8_t *c = r[dy + 1] + cx[dx], *d = r[dy + 1] + cx[dx + 1];
				int R = a[0] + b[0] + c[0] + d[0], G = a[1] + b[1] + c[1] + d[1], B = a[2] + b[2] + c[2] + d[2];
				cr += R;
				cg += G;
				cb += B;
				uint8_t *Yq = (q >> 1) ? Y1 : Y0;
				Yq[ox + (q & 1)] = (uint8_t)(((66 * R + 129 * G + 25 * B + 512) >> 10) + 16);
			}
			U[ox / 2] = (uint8_t)(((-38 * cr - 74 * cg + 112 * cb + 2048) >> 12) + 128);
			V[ox / 2] = (uint8_t)(((112 * cr - 94 * cg - 18 * cb + 2048) >> 12) + 128);
		}
	}
}

static void load(tvp8_enc *e, const uint8_t *rgba, int stride) {
	if (e->scale == 2)
		rgba_half_to_i420(e->img, rgba, stride, e->w, e->h);
	else
		rgba_to_i420(e->img, rgba, stride, e->w, e->h, 0, 0, e->img->d_w, e->img->d_h);
	e->active_next = 0;
}

void tvp8_enc_load(tvp8_enc *e, const uint8_t *rgba, int stride) {
	int64_t t0 = thread_cpu_ns();
	load(e, rgba, stride);
	e->cpu_ns += thread_cpu_ns() - t0;
}

int64_t tvp8_enc_cpu_ns(tvp8_enc *e) { return e->cpu_ns; }

void tvp8_enc_blocks(tvp8_enc *e, int *cols, int *rows) {
	*cols = (e->cfg.g_w + 15) / 16;
	*rows = (e->cfg.g_h + 15) / 16;
}

int tvp8_enc_load_blocks(tvp8_enc *e, const uint8_t *rgba, int stride, const uint8_t *changed) {
	int cols, rows;
	tvp8_enc_blocks(e, &cols, &rows);
	if (e->scale == 2 || (e->active == NULL && (e->active = malloc((size_t)cols * rows)) == NULL)) {
		tvp8_enc_load(e, rgba, stride);
		return cols * rows;
	}
	int64_t t0 = thread_cpu_ns();
	int ew = e->img->d_w, eh = e->img->d_h, n = 0;
	for (int by = 0; by < rows; by++) {
		const uint8_t *m = changed + (size_t)by * cols;
		int y0 = by * 16, y1 = y0 + 16 < eh ? y0 + 16 : eh;
		for (int bx = 0; bx < cols;) {
			if (!m[bx]) {
				bx++;
				continue;
			}
			int run = bx;
			while (run < cols && m[run])
				run++;
			int x1 = run * 16 < ew ? run * 16 : ew;
			rgba_to_i420(e->img, rgba, stride, e->w, e->h, bx * 16, y0, x1, y1);
			n += run - bx;
			bx = run;
		}
	}
	memcpy(e->active, changed, (size_t)cols * rows);
	e->active_next = 1;
	e->cpu_ns += thread_cpu_ns() - t0;
	return n;
}

int tvp8_enc_frame(tvp8_enc *e, const uint8_t *rgba, int stride, int64_t pts, int force_key,
                   const uint8_t **out, int *key, char *err, int errlen) {
	int64_t t0 = thread_cpu_ns();
	if (rgba != NULL)
		load(e, rgba, stride);
	// Unchanged macroblocks are skipped without a search (libvpx's
	// active map); a key frame codes them all.
	int use_map = e->active_next && !force_key;
	if (use_map || e->active_on) {
		int cols, rows;
		tvp8_enc_blocks(e, &cols, &rows);
		vpx_active_map_t map = {use_map ? e->active : NULL, (unsigned)rows, (unsigned)cols};
		if (vpx.control(&e->ctx, VP8E_SET_ACTIVEMAP, &map) != VPX_CODEC_OK) {
			fail(err, errlen, "vp8: setting the active map", &e->ctx);
			return -1;
		}
		e->active_on = use_map;
	}
	e->active_next = 0;
	if (vpx.encode(&e->ctx, e->img, pts, 1, force_key ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME) != VPX_CODEC_OK) {
		fail(err, errlen, "vp8: encoding", &e->ctx);
		return -1;
	}
	size_t n = 0;
	*key = 0;
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx.get_cx_data(&e->ctx, &it)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
			continue;
		size_t sz = pkt->data.frame.sz;
		if (n + sz > e->outcap) {
			size_t c = (n + sz) * 2;
			uint8_t *o = realloc(e->out, c);
			if (o == NULL) {
				snprintf(err, errlen, "vp8: out of memory for a frame of %zu bytes", n + sz);
				return -1;
			}
			e->out = o;
			e->outcap = c;
		}
		memcpy(e->out + n, pkt->data.frame.buf, sz);
		n += sz;
		if (pkt->data.frame.flags & VPX_FRAME_IS_KEY)
			*key = 1;
	}
	*out = e->out;
	e->cpu_ns += thread_cpu_ns() - t0;
	return (int)n;
}

int tvp8_enc_bitrate(tvp8_enc *e, int kbps, char *err, int errlen) {
	e->cfg.rc_target_bitrate = kbps;
	if (vpx.enc_config_set(&e->ctx, &e->cfg) != VPX_CODEC_OK) {
		fail(err, errlen, "vp8: setting the bitrate", &e->ctx);
		return -1;
	}
	return 0;
}

void tvp8_enc_free(tvp8_enc *e) {
	vpx.destroy(&e->ctx);
	vpx.img_free(e->img);
	free(e->out);
	free(e->active);
	free(e);
#ifdef __GLIBC__
	// A 1080p encoder holds tens of MB, freed on many threads' arenas:
	// give them back now, or an idle helper keeps the last session's.
	malloc_trim(0);
#endif
}

struct tvp8_dec {
	vpx_codec_ctx_t ctx;
};

tvp8_dec *tvp8_dec_new(char *err, int errlen) {
	tvp8_dec *d = calloc(1, sizeof *d);
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vpx_codec_dec_cfg_t cfg = {.threads = 1};
	if (vpx.dec_init_ver(&d->ctx, vpx.dx(), &cfg, 0, VPX_DECODER_ABI_VERSION) != VPX_CODEC_OK) {
		fail(err, errlen, "vp8: starting the decoder", &d->ctx);
		free(d);
		return NULL;
	}
	return d;
}

int tvp8_dec_frame(tvp8_dec *d, const uint8_t *data, int n, int *w, int *h,
                   const uint8_t **y, const uint8_t **u, const uint8_t **v, int *ystride, int *cstride,
                   char *err, int errlen) {
	if (vpx.decode(&d->ctx, data, n, NULL, 0) != VPX_CODEC_OK) {
		fail(err, errlen, "vp8: decoding", &d->ctx);
		return -1;
	}
	*w = 0;
	vpx_codec_iter_t it = NULL;
	vpx_image_t *img;
	while ((img = vpx.get_frame(&d->ctx, &it)) != NULL) {
		*w = img->d_w;
		*h = img->d_h;
		*y = img->planes[VPX_PLANE_Y];
		*u = img->planes[VPX_PLANE_U];
		*v = img->planes[VPX_PLANE_V];
		*ystride = img->stride[VPX_PLANE_Y];
		*cstride = img->stride[VPX_PLANE_U];
	}
	return 0;
}

void tvp8_dec_free(tvp8_dec *d) {
	vpx.destroy(&d->ctx);
	free(d);
}
