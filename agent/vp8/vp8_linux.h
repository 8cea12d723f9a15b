// The C side of package vp8: libvpx's VP8 encoder and decoder, opened with
// dlopen so that an agent without libvpx still runs (on the tile path).

#include <stdint.h>

typedef struct tvp8_enc tvp8_enc;
typedef struct tvp8_dec tvp8_dec;

int tvp8_load(char *err, int errlen);

tvp8_enc *tvp8_enc_new(int w, int h, int scale, int kbps, int threads, int speed, char *err, int errlen);
// tvp8_enc_frame converts w x h RGBA pixels (rows stride bytes apart) and
// encodes them. The frame is in *out (valid until the next call), its
// length the return value (0: the encoder dropped it, -1: error).
void tvp8_enc_load(tvp8_enc *e, const uint8_t *rgba, int stride);
// rgba NULL encodes the picture tvp8_enc_load converted last.
int tvp8_enc_frame(tvp8_enc *e, const uint8_t *rgba, int stride, int64_t pts, int force_key,
                   const uint8_t **out, int *key, char *err, int errlen);
int tvp8_enc_bitrate(tvp8_enc *e, int kbps, char *err, int errlen);
void tvp8_enc_free(tvp8_enc *e);

tvp8_dec *tvp8_dec_new(char *err, int errlen);
// tvp8_dec_frame decodes one frame; the I420 planes of the picture are set
// (valid until the next call), with *w == 0 if the frame showed nothing.
int tvp8_dec_frame(tvp8_dec *d, const uint8_t *data, int n, int *w, int *h,
                   const uint8_t **y, const uint8_t **u, const uint8_t **v, int *ystride, int *cstride,
                   char *err, int errlen);
void tvp8_dec_free(tvp8_dec *d);
