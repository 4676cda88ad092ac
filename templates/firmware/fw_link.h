/*
 * edgec device protocol, device side: framing, CRCs and the streaming decoder.
 * The Python twin is edgec/protocol.py; the frame layout is documented there.
 */
#ifndef FW_LINK_H
#define FW_LINK_H

#include <stdint.h>

#include "fw_board.h"

#define FW_LINK_SYNC 0xA5u
#define FW_LINK_HEADER 6u
#define FW_LINK_CRC 4u
#define FW_LINK_MAX_PAYLOAD FW_MAX_PAYLOAD
#define FW_LINK_FRAME_MAX (FW_LINK_HEADER + FW_LINK_MAX_PAYLOAD + FW_LINK_CRC)
#define FW_LINK_RESPONSE 0x80u

enum {
    FW_CMD_INFO = 0x01,
    FW_CMD_SET_INPUT = 0x02,
    FW_CMD_RUN = 0x03,
    FW_CMD_GET_OUTPUT = 0x04,
    FW_CMD_DUMP = 0x05,
    FW_CMD_RESET = 0x06,
    FW_CMD_LOOP = 0x07,
    FW_CMD_CRASH = 0x08,
    FW_CMD_PROFILE = 0x09,
    FW_CMD_STATE_RESET = 0x0A,
    FW_CMD_NAK = 0x7D,
    FW_CMD_BOOT = 0x7E,
    FW_CMD_FAULT = 0x7F
};

enum {
    FW_STATUS_OK = 0,
    FW_STATUS_UNKNOWN_COMMAND = 1,
    FW_STATUS_BAD_LENGTH = 2,
    FW_STATUS_BAD_RANGE = 3,
    FW_STATUS_MODEL_ERROR = 4,
    FW_STATUS_NOT_READY = 5,
    FW_STATUS_RUNNING = 6 /* interim answer: the request was accepted, its result follows */
};

/* Bytes received since the last frame; a checked frame, when there is one, starts at buf[0]. */
typedef struct {
    uint8_t buf[FW_LINK_FRAME_MAX];
    uint32_t n;
    uint32_t errors;
    int32_t nak_seq; /* a frame with a good header but a bad CRC came in: ask for it again */
} fw_link_decoder;

/* The decoder of the requests (the main loop's; the fault handler reuses it). */
extern fw_link_decoder fw_link_rx;

void fw_link_init(fw_link_decoder *d);
/* Add one received byte; returns 1 when a whole frame with good CRCs is at buf[0]. */
int fw_link_feed(fw_link_decoder *d, uint8_t byte);
/* Sends NAK for a damaged frame whose header (and so sequence number) was intact. */
void fw_link_send_nak(fw_link_decoder *d);
/* Remove the frame at buf[0]; returns 1 if another whole frame is already buffered. */
int fw_link_consume(fw_link_decoder *d);

static inline uint8_t fw_link_seq(const fw_link_decoder *d) { return d->buf[3]; }
static inline uint8_t fw_link_cmd(const fw_link_decoder *d) { return d->buf[4]; }
static inline uint32_t fw_link_len(const fw_link_decoder *d)
{
    return (uint32_t)d->buf[1] | ((uint32_t)d->buf[2] << 8);
}
static inline const uint8_t *fw_link_payload(const fw_link_decoder *d) { return d->buf + FW_LINK_HEADER; }

uint8_t fw_crc8(const uint8_t *data, uint32_t n);
uint32_t fw_crc32(uint32_t crc, const uint8_t *data, uint32_t n);

/* Send one frame whose payload is head[0..nh) followed by body[0..nb). */
void fw_link_send(uint8_t seq, uint8_t cmd, const uint8_t *head, uint32_t nh, const uint8_t *body,
                  uint32_t nb);

#endif /* FW_LINK_H */
