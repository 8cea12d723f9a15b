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
// tvp8_enc_blocks gives the encoded picture's size in 16x16 macroblocks.
void tvp8_enc_blocks(tvp8_enc *e, int *cols, int *rows);
// tvp8_enc_load_blocks converts only the macroblocks marked in changed
// (cols x rows bytes, row-major), and the next tvp8_enc_frame encodes only
// those unless it makes a key frame. It returns how many it converted.
int tvp8_enc_load_blocks(tvp8_enc *e, const uint8_t *rgba, int stride, const uint8_t *changed);
// rgba NULL encodes the picture tvp8_enc_load converted last.
int tvp8_enc_frame(tvp8_enc *e, const uint8_t *rgba, int stride, int64_t pts, int force_key,
                   const uint8_t **out, int *key, char *err, int errlen);
// tvp8_enc_cpu_ns is the CPU time the encoder's load and frame calls
// took, in all.
int64_t tvp8_enc_cpu_ns(tvp8_enc *e);
int tvp8_enc_bitrate(tvp8_enc *e, int kbps, char *err, int errlen);
void tvp8_enc_free(tvp8_enc *e);

tvp8_dec *tvp8_dec_new(char *err, int errlen);
// tvp8_dec_frame decodes one frame; the I420 planes of the picture are set
// (valid until the next call), with *w == 0 if the frame showed nothing.
int tvp8_dec_frame(tvp8_dec *d, const uint8_t *data, int n, int *w, int *h,
                   const uint8_t **y, const uint8_t **u, const uint8_t **v, int *ystride, int *cstride,
                   char *err, int errlen);
void tvp8_dec_free(tvp8_dec *d);
