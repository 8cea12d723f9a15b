//go:build linux && cgo

// A PipeWire video consumer for screen streams (GNOME's screen-cast API and
// xdg-desktop-portal). It keeps one copy of the newest frame, updated where
// PipeWire's damage metadata says it changed, and the damage accumulated
// since the Go side last looked.
//
// libpipewire is not linked: it is opened with dlopen, and only the spa
// headers' inline helpers are compiled in.

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pipewire/pipewire.h>
#include <spa/param/video/format-utils.h>
#include <spa/buffer/meta.h>

#include "pipewire_linux.h"

static struct {
	int loaded;
	char err[200];
	void (*init)(int *, char ***);
	struct pw_thread_loop *(*thread_loop_new)(const char *, const struct spa_dict *);
	struct pw_loop *(*thread_loop_get_loop)(struct pw_thread_loop *);
	int (*thread_loop_start)(struct pw_thread_loop *);
	void (*thread_loop_stop)(struct pw_thread_loop *);
	void (*thread_loop_lock)(struct pw_thread_loop *);
	void (*thread_loop_unlock)(struct pw_thread_loop *);
	void (*thread_loop_destroy)(struct pw_thread_loop *);
	struct pw_context *(*context_new)(struct pw_loop *, struct pw_properties *, size_t);
	void (*context_destroy)(struct pw_context *);
	struct pw_core *(*context_connect)(struct pw_context *, struct pw_properties *, size_t);
	struct pw_core *(*context_connect_fd)(struct pw_context *, int, struct pw_properties *, size_t);
	int (*core_disconnect)(struct pw_core *);
	struct pw_properties *(*properties_new)(const char *, ...);
	struct pw_stream *(*stream_new)(struct pw_core *, const char *, struct pw_properties *);
	void (*stream_add_listener)(struct pw_stream *, struct spa_hook *, const struct pw_stream_events *, void *);
	int (*stream_connect)(struct pw_stream *, enum spa_direction, uint32_t, enum pw_stream_flags, const struct spa_pod **, uint32_t);
	struct pw_buffer *(*stream_dequeue_buffer)(struct pw_stream *);
	int (*stream_queue_buffer)(struct pw_stream *, struct pw_buffer *);
	int (*stream_update_params)(struct pw_stream *, const struct spa_pod **, uint32_t);
	int (*stream_disconnect)(struct pw_stream *);
	void (*stream_destroy)(struct pw_stream *);
} pw;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

int tpw_load(char *err, int errlen) {
	pthread_mutex_lock(&load_mu);
	if (pw.loaded) {
		int ok = pw.loaded > 0;
		if (!ok)
			snprintf(err, errlen, "%s", pw.err);
		pthread_mutex_unlock(&load_mu);
		return ok ? 0 : -1;
	}
	pw.loaded = -1;
	void *h = dlopen("libpipewire-0.3.so.0", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(pw.err, sizeof pw.err, "loading libpipewire: %s", dlerror());
		goto fail;
	}
#define SYM(field, name)                                                                   \
	if ((*(void **)&pw.field = dlsym(h, name)) == NULL) {                                \
		snprintf(pw.err, sizeof pw.err, "libpipewire has no %s", name);                   \
		goto fail;                                                                       \
	}
	SYM(init, "pw_init");
	SYM(thread_loop_new, "pw_thread_loop_new");
	SYM(thread_loop_get_loop, "pw_thread_loop_get_loop");
	SYM(thread_loop_start, "pw_thread_loop_start");
	SYM(thread_loop_stop, "pw_thread_loop_stop");
	SYM(thread_loop_lock, "pw_thread_loop_lock");
	SYM(thread_loop_unlock, "pw_thread_loop_unlock");
	SYM(thread_loop_destroy, "pw_thread_loop_destroy");
	SYM(context_new, "pw_context_new");
	SYM(context_destroy, "pw_context_destroy");
	SYM(context_connect, "pw_context_connect");
	SYM(context_connect_fd, "pw_context_connect_fd");
	SYM(core_disconnect, "pw_core_disconnect");
	SYM(properties_new, "pw_properties_new");
	SYM(stream_new, "pw_stream_new");
	SYM(stream_add_listener, "pw_stream_add_listener");
	SYM(stream_connect, "pw_stream_connect");
	SYM(stream_dequeue_buffer, "pw_stream_dequeue_buffer");
	SYM(stream_queue_buffer, "pw_stream_queue_buffer");
	SYM(stream_update_params, "pw_stream_update_params");
	SYM(stream_disconnect, "pw_stream_disconnect");
	SYM(stream_destroy, "pw_stream_destroy");
#undef SYM
	pw.init(NULL, NULL);
	pw.loaded = 1;
	pthread_mutex_unlock(&load_mu);
	return 0;
fail:
	snprintf(err, errlen, "%s", pw.err);
	pthread_mutex_unlock(&load_mu);
	return -1;
}

struct tpw_stream {
	struct pw_thread_loop *loop;
	struct pw_context *ctx;
	struct pw_core *core;
	struct pw_stream *stream;
	struct spa_hook listener;
	int efd;

	// Negotiated on the loop's thread.
	uint32_t format; // TPW_*
	int32_t width, height;

	pthread_mutex_t mu; // guards what follows
	uint8_t *pix;       // newest frame, w*h*4, tightly packed
	int32_t w, h;
	int32_t all, ndamage;
	struct tpw_rect damage[TPW_MAX_DAMAGE];
	uint64_t seq;
	int32_t state;
	char err[256];
};

static void wake(struct tpw_stream *s) {
	uint64_t one = 1;
	ssize_t n = write(s->efd, &one, sizeof one);
	(void)n;
}

static void fail(struct tpw_stream *s, const char *why) {
	pthread_mutex_lock(&s->mu);
	if (s->state == 0) {
		s->state = -1;
		snprintf(s->err, sizeof s->err, "%s", why);
	}
	pthread_mutex_unlock(&s->mu);
	wake(s);
}

// add_damage adds r (frame coordinates, clipped) to the pending damage;
// too many rectangles become "everything". Called with mu held.
static void add_damage(struct tpw_stream *s, struct tpw_rect r) {
	if (r.x < 0) {
		r.w += r.x;
		r.x = 0;
	}
	if (r.y < 0) {
		r.h += r.y;
		r.y = 0;
	}
	if (r.x + r.w > s->w)
		r.w = s->w - r.x;
	if (r.y + r.h > s->h)
		r.h = s->h - r.y;
	if (r.w <= 0 || r.h <= 0 || s->all)
		return;
	if (s->ndamage == TPW_MAX_DAMAGE) {
		s->all = 1;
		s->ndamage = 0;
		return;
	}
	s->damage[s->ndamage++] = r;
}

static void on_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state, const char *error) {
	struct tpw_stream *s = data;
	(void)old;
	if (state == PW_STREAM_STATE_ERROR)
		fail(s, error ? error : "the screen stream failed");
	else if (state == PW_STREAM_STATE_UNCONNECTED)
		fail(s, "the screen stream ended");
}

static void on_param_changed(void *data, uint32_t id, const struct spa_pod *param) {
	struct tpw_stream *s = data;
	if (param == NULL || id != SPA_PARAM_Format)
		return;
	uint32_t mtype, msub;
	if (spa_format_parse(param, &mtype, &msub) < 0 || mtype != SPA_MEDIA_TYPE_video || msub != SPA_MEDIA_SUBTYPE_raw)
		return;
	struct spa_video_info_raw info;
	if (spa_format_video_raw_parse(param, &info) < 0)
		return;
	switch (info.format) {
	case SPA_VIDEO_FORMAT_BGRx: s->format = TPW_BGRX; break;
	case SPA_VIDEO_FORMAT_BGRA: s->format = TPW_BGRA; break;
	case SPA_VIDEO_FORMAT_RGBx: s->format = TPW_RGBX; break;
	case SPA_VIDEO_FORMAT_RGBA: s->format = TPW_RGBA; break;
	default:
		fail(s, "the screen stream chose a pixel format we did not offer");
		return;
	}
	s->width = info.size.width;
	s->height = info.size.height;

	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof buf);
	const struct spa_pod *params[4];
	// Memory we can read: shared memory, not GPU buffers (DMA-BUF).
	params[0] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamBuffers, SPA_PARAM_Buffers,
		SPA_PARAM_BUFFERS_dataType, SPA_POD_Int((1 << SPA_DATA_MemPtr) | (1 << SPA_DATA_MemFd)));
	params[1] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_Header),
		SPA_PARAM_META_size, SPA_POD_Int(sizeof(struct spa_meta_header)));
	params[2] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_VideoCrop),
		SPA_PARAM_META_size, SPA_POD_Int(sizeof(struct spa_meta_region)));
	params[3] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_VideoDamage),
		SPA_PARAM_META_size, SPA_POD_CHOICE_RANGE_Int(sizeof(struct spa_meta_region) * 16,
			sizeof(struct spa_meta_region) * 1, sizeof(struct spa_meta_region) * 16));
	pw.stream_update_params(s->stream, params, 4);
}

// damage_of adds a buffer's damage metadata to the pending damage (mu
// held); without any, all of the frame may have changed.
static void damage_of(struct tpw_stream *s, struct spa_buffer *sb, int x0, int y0) {
	struct spa_meta *m = spa_buffer_find_meta(sb, SPA_META_VideoDamage);
	if (m == NULL) {
		s->all = 1;
		return;
	}
	struct spa_meta_region *r;
	spa_meta_for_each(r, m) {
		if (!spa_meta_region_is_valid(r))
			break;
		struct tpw_rect d = {r->region.position.x - x0, r->region.position.y - y0,
			(int32_t)r->region.size.width, (int32_t)r->region.size.height};
		add_damage(s, d);
	}
}

static void on_process(void *data) {
	struct tpw_stream *s = data;
	struct pw_buffer *b = NULL, *n;
	// The lock is held throughout, so that the damage this call adds is
	// exactly what it copies.
	pthread_mutex_lock(&s->mu);
	int32_t before = s->ndamage;
	// Keep only the newest buffer, but take in what the older ones
	// changed: the newest holds the whole picture.
	while ((n = pw.stream_dequeue_buffer(s->stream)) != NULL) {
		if (b != NULL) {
			damage_of(s, b->buffer, 0, 0);
			pw.stream_queue_buffer(s->stream, b);
		}
		b = n;
	}
	if (b == NULL)
		goto out;
	struct spa_buffer *sb = b->buffer;
	struct spa_data *d = &sb->datas[0];
	struct spa_meta_header *hdr = spa_buffer_find_meta_data(sb, SPA_META_Header, sizeof *hdr);
	if (d->data == NULL || d->chunk->size == 0 || (hdr != NULL && (hdr->flags & SPA_META_HEADER_FLAG_CORRUPTED)) ||
	    s->width <= 0 || s->height <= 0)
		goto requeue;
	int32_t x0 = 0, y0 = 0, w = s->width, h = s->height;
	struct spa_meta_region *crop = spa_buffer_find_meta_data(sb, SPA_META_VideoCrop, sizeof *crop);
	if (crop != NULL && spa_meta_region_is_valid(crop)) {
		x0 = crop->region.position.x;
		y0 = crop->region.position.y;
		w = crop->region.size.width;
		h = crop->region.size.height;
		if (x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0 + w > s->width || y0 + h > s->height) {
			x0 = y0 = 0;
			w = s->width;
			h = s->height;
		}
	}
	int32_t stride = d->chunk->stride > 0 ? d->chunk->stride : s->width * 4;
	uint64_t need = (uint64_t)d->chunk->offset + (uint64_t)stride * (uint64_t)(y0 + h - 1) + (uint64_t)(x0 + w) * 4;
	if (stride < w * 4 || need > d->maxsize)
		goto requeue;
	const uint8_t *src = (const uint8_t *)d->data + d->chunk->offset;
	if (s->pix == NULL || s->w != w || s->h != h) {
		free(s->pix);
		s->pix = malloc((size_t)w * h * 4);
		if (s->pix == NULL) {
			s->state = -1;
			snprintf(s->err, sizeof s->err, "out of memory for the screen frame");
			goto requeue;
		}
		s->w = w;
		s->h = h;
		s->all = 1;
		s->ndamage = 0;
	}
	if (!s->all)
		damage_of(s, sb, x0, y0);
	// Copy what changed since the last copy: everything, or the damage
	// this call added.
	if (s->all) {
		for (int32_t y = 0; y < h; y++)
			memcpy(s->pix + (size_t)y * w * 4, src + (size_t)(y0 + y) * stride + (size_t)x0 * 4, (size_t)w * 4);
	} else {
		for (int32_t i = before; i < s->ndamage; i++) {
			struct tpw_rect r = s->damage[i];
			for (int32_t y = r.y; y < r.y + r.h; y++)
				memcpy(s->pix + ((size_t)y * w + r.x) * 4, src + (size_t)(y0 + y) * stride + (size_t)(x0 + r.x) * 4, (size_t)r.w * 4);
		}
	}
	s->seq++;
requeue:
	pw.stream_queue_buffer(s->stream, b);
out:
	pthread_mutex_unlock(&s->mu);
	wake(s);
}

static const struct pw_stream_events stream_events = {
	PW_VERSION_STREAM_EVENTS,
	.state_changed = on_state_changed,
	.param_changed = on_param_changed,
	.process = on_process,
};

struct tpw_stream *tpw_open(int fd, uint32_t node, int efd, char *err, int errlen) {
	if (tpw_load(err, errlen) != 0)
		return NULL;
	struct tpw_stream *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->efd = efd;
	pthread_mutex_init(&s->mu, NULL);
	s->loop = pw.thread_loop_new("tether-capture", NULL);
	if (s->loop == NULL) {
		snprintf(err, errlen, "creating the PipeWire loop failed");
		free(s);
		return NULL;
	}
	s->ctx = pw.context_new(pw.thread_loop_get_loop(s->loop), NULL, 0);
	if (s->ctx == NULL || pw.thread_loop_start(s->loop) < 0) {
		snprintf(err, errlen, "starting PipeWire failed");
		tpw_close(s);
		return NULL;
	}
	pw.thread_loop_lock(s->loop);
	s->core = fd >= 0 ? pw.context_connect_fd(s->ctx, fd, NULL, 0) : pw.context_connect(s->ctx, NULL, 0);
	if (s->core == NULL) {
		snprintf(err, errlen, "connecting to PipeWire: %s", strerror(errno));
		pw.thread_loop_unlock(s->loop);
		tpw_close(s);
		return NULL;
	}
	s->stream = pw.stream_new(s->core, "tether-capture",
		pw.properties_new(PW_KEY_MEDIA_TYPE, "Video", PW_KEY_MEDIA_CATEGORY, "Capture", PW_KEY_MEDIA_ROLE, "Screen", NULL));
	if (s->stream == NULL) {
		snprintf(err, errlen, "creating the PipeWire stream: %s", strerror(errno));
		pw.thread_loop_unlock(s->loop);
		tpw_close(s);
		return NULL;
	}
	pw.stream_add_listener(s->stream, &s->listener, &stream_events, s);

	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof buf);
	const struct spa_pod *params[1];
	params[0] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_Format, SPA_PARAM_EnumFormat,
		SPA_FORMAT_mediaType, SPA_POD_Id(SPA_MEDIA_TYPE_video),
		SPA_FORMAT_mediaSubtype, SPA_POD_Id(SPA_MEDIA_SUBTYPE_raw),
		SPA_FORMAT_VIDEO_format, SPA_POD_CHOICE_ENUM_Id(5, SPA_VIDEO_FORMAT_BGRx, SPA_VIDEO_FORMAT_BGRx,
			SPA_VIDEO_FORMAT_BGRA, SPA_VIDEO_FORMAT_RGBx, SPA_VIDEO_FORMAT_RGBA),
		SPA_FORMAT_VIDEO_size, SPA_POD_CHOICE_RANGE_Rectangle(&SPA_RECTANGLE(1920, 1080), &SPA_RECTANGLE(1, 1),
			&SPA_RECTANGLE(16384, 16384)),
		SPA_FORMAT_VIDEO_framerate, SPA_POD_CHOICE_RANGE_Fraction(&SPA_FRACTION(60, 1), &SPA_FRACTION(0, 1),
			&SPA_FRACTION(240, 1)));
	int r = pw.stream_connect(s->stream, PW_DIRECTION_INPUT, node,
		PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
	pw.thread_loop_unlock(s->loop);
	if (r < 0) {
		snprintf(err, errlen, "connecting the PipeWire stream to node %u: %s", node, strerror(-r));
		tpw_close(s);
		return NULL;
	}
	return s;
}

void tpw_lock(struct tpw_stream *s) { pthread_mutex_lock(&s->mu); }
void tpw_unlock(struct tpw_stream *s) { pthread_mutex_unlock(&s->mu); }

void tpw_take(struct tpw_stream *s, struct tpw_frame *f) {
	f->pix = s->pix;
	f->w = s->w;
	f->h = s->h;
	f->stride = s->w * 4;
	f->format = s->format;
	f->all = s->all;
	f->ndamage = s->ndamage;
	memcpy(f->damage, s->damage, sizeof(struct tpw_rect) * s->ndamage);
	f->seq = s->seq;
	f->state = s->state;
	memcpy(f->err, s->err, sizeof f->err);
	s->all = 0;
	s->ndamage = 0;
}

void tpw_close(struct tpw_stream *s) {
	if (s == NULL)
		return;
	if (s->loop != NULL) {
		pw.thread_loop_lock(s->loop);
		if (s->stream != NULL) {
			pw.stream_disconnect(s->stream);
			pw.stream_destroy(s->stream);
		}
		if (s->core != NULL)
			pw.core_disconnect(s->core);
		pw.thread_loop_unlock(s->loop);
		pw.thread_loop_stop(s->loop);
	}
	if (s->ctx != NULL)
		pw.context_destroy(s->ctx);
	if (s->loop != NULL)
		pw.thread_loop_destroy(s->loop);
	free(s->pix);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
