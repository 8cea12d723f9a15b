// The PipeWire screen-stream consumer of pipewire_linux.c: libpipewire is
// loaded at run time (dlopen), so the agent runs, and captures X11, on
// machines without it.

#include <stdint.h>
#include <pthread.h>

#define TPW_MAX_DAMAGE 32

struct tpw_rect {
	int32_t x, y, w, h;
};

struct tpw_stream;

// tpw_load loads libpipewire-0.3.so.0 once; 0 on success, else the reason
// in err.
int tpw_load(char *err, int errlen);

// tpw_open connects to PipeWire (through fd when it is not -1: a portal's
// OpenPipeWireRemote; else the user's default daemon) and consumes node.
// efd is an eventfd written whenever a frame arrives or the stream ends.
struct tpw_stream *tpw_open(int fd, uint32_t node, int efd, char *err, int errlen);

// tpw_lock and tpw_unlock guard what follows; the frame is read between
// them.
void tpw_lock(struct tpw_stream *s);
void tpw_unlock(struct tpw_stream *s);

// tpw_frame describes the newest frame (lock held): its pixels (NULL before
// the first), size, stride, SPA video format, and the damage since the
// last call, which it clears: all is set when everything may have changed.
// state is 0 while streaming or waiting, -1 once the stream failed or
// ended (err then says why).
struct tpw_frame {
	uint8_t *pix;
	int32_t w, h, stride;
	uint32_t format;
	int32_t all, ndamage;
	struct tpw_rect damage[TPW_MAX_DAMAGE];
	uint64_t seq;
	int32_t state;
	char err[256];
};
void tpw_take(struct tpw_stream *s, struct tpw_frame *f);

// tpw_close stops the stream and frees it.
void tpw_close(struct tpw_stream *s);

// SPA video formats the Go side converts.
enum {
	TPW_BGRX = 1,
	TPW_BGRA = 2,
	TPW_RGBX = 3,
	TPW_RGBA = 4,
};
