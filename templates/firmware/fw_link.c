/*
 * edgec device protocol, device side. CRC-8 (poly 0x07) guards the header, CRC-32 (IEEE,
 * reflected 0xEDB88320, as zlib) guards header and payload. On any bad frame the decoder drops
 * the SYNC byte and rescans the bytes it already holds, so a frame that follows garbage or a
 * truncated frame is still found.
 */
#include <string.h>

#include "fw_link.h"
#include "fw_uart.h"

/* CRC-32 by nibbles: a 64-byte table, 2 lookups per byte. */
static const uint32_t crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t fw_crc32(uint32_t crc, const uint8_t *data, uint32_t n)
{
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc32_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc32_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

uint8_t fw_crc8(const uint8_t *data, uint32_t n)
{
    uint8_t crc = 0;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (uint8_t)((crc & 0x80u) ? ((uint32_t)crc << 1) ^ 0x07u : (uint32_t)crc << 1);
        }
    }
    return crc;
}

fw_link_decoder fw_link_rx;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void fw_link_init(fw_link_decoder *d)
{
    d->n = 0;
    d->errors = 0;
    d->nak_seq = -1;
}

void fw_link_send_nak(fw_link_decoder *d)
{
    if (d->nak_seq >= 0) {
        fw_link_send((uint8_t)d->nak_seq, FW_CMD_NAK, 0, 0, 0, 0);
        d->nak_seq = -1;
    }
}

/* Drop buf[0] and everything before the next SYNC byte. */
static void drop_to_next_sync(fw_link_decoder *d)
{
    uint32_t k = 1;
    while (k < d->n && d->buf[k] != FW_LINK_SYNC) {
        k++;
    }
    memmove(d->buf, d->buf + k, d->n - k);
    d->n -= k;
}

static int scan(fw_link_decoder *d)
{
    for (;;) {
        if (d->n == 0) {
            return 0;
        }
        if (d->buf[0] != FW_LINK_SYNC) {
            drop_to_next_sync(d);
            continue;
        }
        if (d->n < FW_LINK_HEADER) {
            return 0;
        }
        uint32_t len = fw_link_len(d);
        if (len > FW_LINK_MAX_PAYLOAD || fw_crc8(d->buf + 1, 4) != d->buf[5]) {
            d->errors++;
            drop_to_next_sync(d);
            continue;
        }
        uint32_t total = FW_LINK_HEADER + len + FW_LINK_CRC;
        if (d->n < total) {
            return 0;
        }
        if (fw_crc32(0, d->buf + 1, FW_LINK_HEADER - 1 + len) != rd32(d->buf + FW_LINK_HEADER + len)) {
            d->errors++;
            d->nak_seq = d->buf[3];
            drop_to_next_sync(d);
            continue;
        }
        return 1;
    }
}

int fw_link_feed(fw_link_decoder *d, uint8_t byte)
{
    if (d->n == 0 && byte != FW_LINK_SYNC) {
        return 0; /* garbage between frames */
    }
    d->buf[d->n++] = byte;
    return scan(d);
}

int fw_link_consume(fw_link_decoder *d)
{
    uint32_t total = FW_LINK_HEADER + fw_link_len(d) + FW_LINK_CRC;
    memmove(d->buf, d->buf + total, d->n - total);
    d->n -= total;
    return scan(d);
}

void fw_link_send(uint8_t seq, uint8_t cmd, const uint8_t *head, uint32_t nh, const uint8_t *body,
                  uint32_t nb)
{
    uint32_t len = nh + nb;
    uint8_t header[FW_LINK_HEADER];
    header[0] = FW_LINK_SYNC;
    header[1] = (uint8_t)(len & 0xFFu);
    header[2] = (uint8_t)(len >> 8);
    header[3] = seq;
    header[4] = cmd;
    header[5] = fw_crc8(header + 1, 4);
    uint32_t crc = fw_crc32(0, header + 1, FW_LINK_HEADER - 1);
    crc = fw_crc32(crc, head, nh);
    crc = fw_crc32(crc, body, nb);
    uint8_t tail[FW_LINK_CRC] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    fw_uart_write(header, FW_LINK_HEADER);
    fw_uart_write(head, nh);
    fw_uart_write(body, nb);
    fw_uart_write(tail, FW_LINK_CRC);
    fw_uart_flush();
}
