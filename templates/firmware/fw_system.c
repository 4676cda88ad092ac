/* Stack painting and the fault report's protocol side (shared by every architecture). */
#include <string.h>

#include "fw_arch.h"
#include "fw_board.h"
#include "fw_link.h"
#include "fw_system.h"
#include "fw_uart.h"

#define STACK_PATTERN 0x5AFE57ACu

extern uint32_t _stack_bottom[];
extern uint32_t _stack_top[];

__attribute__((noinline)) void fw_stack_paint(void)
{
    uint32_t *end = (uint32_t *)(uintptr_t)(fw_sp() - 64u); /* leave this frame alone */
    for (uint32_t *p = _stack_bottom; p < end; p++) {
        *p = STACK_PATTERN;
    }
}

uint32_t fw_stack_used(void)
{
    const uint32_t *p = _stack_bottom;
    while (p < _stack_top && *p == STACK_PATTERN) {
        p++;
    }
    return (uint32_t)((uintptr_t)_stack_top - (uintptr_t)p);
}

uint32_t fw_stack_reserved(void)
{
    return (uint32_t)((uintptr_t)_stack_top - (uintptr_t)_stack_bottom);
}

void fw_board_startup(void)
{
    static const uint32_t writes[][3] = FW_STARTUP_WRITES;
    for (uint32_t i = 0; writes[i][2] != 2u; i++) {
        if (writes[i][2] == 1u) {
            FW_REG(writes[i][0]) |= writes[i][1];
        } else {
            FW_REG(writes[i][0]) = writes[i][1];
        }
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void fw_fault_send(const uint32_t fields[8])
{
    uint8_t report[32];
    for (int i = 0; i < 8; i++) {
        put32(report + 4 * i, fields[i]);
    }
    fw_link_send(0, FW_CMD_FAULT, report, sizeof report, 0, 0);
    /* Answer every request with the report until the host asks for a reset. The main
     * loop's decoder is reused: the main loop will not run again. */
    fw_link_decoder *rx = &fw_link_rx;
    fw_link_init(rx);
    for (;;) {
        int byte = fw_uart_poll();
        if (byte < 0 || !fw_link_feed(rx, (uint8_t)byte)) {
            continue;
        }
        do {
            if (fw_link_cmd(rx) == FW_CMD_RESET) {
                uint8_t ok = FW_STATUS_OK;
                fw_link_send(fw_link_seq(rx), FW_CMD_RESET | FW_LINK_RESPONSE, &ok, 1, 0, 0);
                fw_system_reset();
            }
            fw_link_send(fw_link_seq(rx), FW_CMD_FAULT, report, sizeof report, 0, 0);
        } while (fw_link_consume(rx));
    }
}
