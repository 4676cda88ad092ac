/*
 * Counters, stack painting and the fault report.
 *
 * Counting on QEMU: with -icount shift=S every instruction advances virtual time by 2^S ns and
 * SysTick (clocked by the core clock) ticks every 1e9/f ns, so instructions =
 * round(ticks * 1e9 / (f * 2^S)). SysTick is restarted before each measurement so the tick
 * phase is tied to the first measured instruction and the count repeats exactly. It is 24 bits
 * wide; its interrupt counts wraps. On silicon the DWT cycle counter is used instead.
 */
#include <string.h>

#include "fw_board.h"
#include "fw_cortexm.h"
#include "fw_link.h"
#include "fw_system.h"
#include "fw_uart.h"

#define STACK_PATTERN 0x5AFE57ACu

extern uint32_t _stack_bottom[];
extern uint32_t _stack_top[];

#if FW_TIMER_SYSTICK_ICOUNT
static volatile uint32_t systick_wraps;

void fw_systick_handler(void)
{
    systick_wraps++;
}

void fw_counter_start(void)
{
    FW_SYST_CSR = 0;
    FW_SYST_RVR = 0x00FFFFFFu;
    FW_SYST_CVR = 0;
    FW_SYST_CSR = 0x5u; /* enable, core clock, no interrupt yet */
    while (FW_SYST_CVR == 0) {
        /* wait for the first reload so that wraps below are whole periods */
    }
    FW_SCB_ICSR = 1u << 25; /* PENDSTCLR */
    systick_wraps = 0;
    FW_SYST_CSR = 0x7u; /* and the wrap interrupt */
}

uint64_t fw_counter_ticks(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = FW_SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (0x00FFFFFFu - value);
}
#else
static uint32_t dwt_start;

void fw_systick_handler(void)
{
}

void fw_counter_start(void)
{
    FW_DEMCR |= 1u << 24; /* TRCENA */
    FW_DWT_LAR = 0xC5ACCE55u; /* unlock (Cortex-M7); ignored elsewhere */
    FW_DWT_CTRL |= 1u; /* CYCCNTENA */
    dwt_start = FW_DWT_CYCCNT;
}

uint64_t fw_counter_ticks(void)
{
    return (uint32_t)(FW_DWT_CYCCNT - dwt_start); /* one inference must stay below 2^32 cycles */
}
#endif

uint64_t fw_counter_count(uint64_t ticks)
{
    return (ticks * FW_COUNT_NUM + FW_COUNT_DEN / 2u) / FW_COUNT_DEN;
}

void fw_spin(uint32_t iterations)
{
    if (iterations == 0) {
        return;
    }
    __asm__ volatile("1:\n\tsubs %0, %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
}

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

/* ---- faults ---------------------------------------------------------------------------- */

static fw_link_decoder fault_rx;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int in_ram(const uint32_t *frame)
{
    uintptr_t a = (uintptr_t)frame;
    return a >= FW_RAM_ORIGIN && a + 32u <= FW_RAM_ORIGIN + FW_RAM_LENGTH && (a & 3u) == 0;
}

void fw_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    uint32_t fields[8] = {
        ipsr & 0x1FFu, FW_SCB_CFSR, FW_SCB_HFSR, FW_SCB_MMFAR, FW_SCB_BFAR,
        in_ram(frame) ? frame[6] : 0u, in_ram(frame) ? frame[5] : 0u, in_ram(frame) ? frame[7] : 0u,
    };
    uint8_t report[32];
    for (int i = 0; i < 8; i++) {
        put32(report + 4 * i, fields[i]);
    }
    fw_link_send(0, FW_CMD_FAULT, report, sizeof report, 0, 0);
    /* Answer every request with the report until the host asks for a reset. */
    fw_link_init(&fault_rx);
    for (;;) {
        int byte = fw_uart_poll();
        if (byte < 0 || !fw_link_feed(&fault_rx, (uint8_t)byte)) {
            continue;
        }
        do {
            if (fw_link_cmd(&fault_rx) == FW_CMD_RESET) {
                uint8_t ok = FW_STATUS_OK;
                fw_link_send(fw_link_seq(&fault_rx), FW_CMD_RESET | FW_LINK_RESPONSE, &ok, 1, 0, 0);
                fw_system_reset();
            }
            fw_link_send(fw_link_seq(&fault_rx), FW_CMD_FAULT, report, sizeof report, 0, 0);
        } while (fw_link_consume(&fault_rx));
    }
}
