/*
 * The inference counter, one implementation per timer method (fw_board.h), and the
 * calibration loop.
 *
 * - SysTick under QEMU -icount (FW_TIMER_SYSTICK_ICOUNT): every instruction advances virtual
 *   time by 2^S ns and SysTick (clocked by the core clock) ticks every 1e9/f ns, so
 *   instructions = round(ticks * 1e9 / (f * 2^S)). SysTick is restarted before each
 *   measurement so the tick phase is tied to the first measured instruction and the count
 *   repeats exactly. It is 24 bits wide; its interrupt counts wraps.
 * - DWT cycle counter (FW_TIMER_DWT): silicon only (QEMU's reads 0).
 * - nRF51 TIMER0 (FW_TIMER_NRF): the nRF51 has no SysTick. At 16 MHz it counts the core's
 *   cycles on silicon. Under QEMU -icount S >= 7 it runs at 8 MHz, 125 ns a tick, whose
 *   boundaries QEMU keeps exact: after m instructions (2^S ns each) since CLEAR it holds
 *   floor(m * 2^S / 125), so m = ceil(ticks * 125 / 2^S) exactly, each reading on its own.
 * - RISC-V mcycle (FW_TIMER_MCYCLE): cycles on silicon; under QEMU -icount it reads virtual
 *   nanoseconds, 2^S per instruction.
 * - ESP32-C3 performance counter (FW_TIMER_ESP_PCCR): cycles (the core has no mcycle).
 */
#include "fw_arch.h"
#include "fw_board.h"
#include "fw_system.h"

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
#elif FW_TIMER_DWT
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
#elif FW_TIMER_NRF
#define TIMER0(off) FW_REG(0x40008000u + (off))

void fw_systick_handler(void)
{
}

void fw_counter_start(void)
{
    TIMER0(0x004u) = 1u; /* STOP */
    TIMER0(0x504u) = 0u; /* MODE: timer */
    TIMER0(0x508u) = 3u; /* BITMODE: 32 bits */
#ifdef FW_NRF_TIMER_ICOUNT_SHIFT
    TIMER0(0x510u) = 1u; /* PRESCALER: 8 MHz, 125 ns (see above) */
#else
    TIMER0(0x510u) = 0u; /* PRESCALER: 16 MHz, the core clock */
#endif
    TIMER0(0x00Cu) = 1u; /* CLEAR */
    TIMER0(0x000u) = 1u; /* START */
}

uint64_t fw_counter_ticks(void)
{
    TIMER0(0x040u) = 1u; /* CAPTURE[0] */
    const uint64_t ticks = TIMER0(0x540u); /* CC[0] */
#ifdef FW_NRF_TIMER_ICOUNT_SHIFT
    /* instructions since CLEAR: ceil(ticks * 125 / 2^S) */
    return (ticks * 125u + ((1u << FW_NRF_TIMER_ICOUNT_SHIFT) - 1u)) >> FW_NRF_TIMER_ICOUNT_SHIFT;
#else
    return ticks;
#endif
}
#elif FW_TIMER_MCYCLE
void fw_counter_start(void)
{
    __asm__ volatile("csrw 0x320, zero"); /* mcountinhibit: mcycle counts */
}

uint64_t fw_counter_ticks(void)
{
    uint32_t hi, lo, again;
    do {
        __asm__ volatile("csrr %0, mcycleh" : "=r"(hi));
        __asm__ volatile("csrr %0, mcycle" : "=r"(lo));
        __asm__ volatile("csrr %0, mcycleh" : "=r"(again));
    } while (hi != again);
    return ((uint64_t)hi << 32) | lo;
}
#elif FW_TIMER_ESP_PCCR
void fw_counter_start(void)
{
    __asm__ volatile("csrw 0x7E0, %0" : : "r"(1u)); /* mpcer: count cycles */
    __asm__ volatile("csrw 0x7E1, %0" : : "r"(1u)); /* mpcmr: counting on */
    __asm__ volatile("csrw 0x7E2, %0" : : "r"(0u)); /* mpccr: from zero */
}

uint64_t fw_counter_ticks(void)
{
    uint32_t value;
    __asm__ volatile("csrr %0, 0x7E2" : "=r"(value));
    return value; /* one inference must stay below 2^32 cycles */
}
#else
#error "no inference counter for this timer method"
#endif

uint64_t fw_counter_count(uint64_t ticks)
{
    return (ticks * FW_COUNT_NUM + FW_COUNT_DEN / 2u) / FW_COUNT_DEN;
}

/* Exactly 2 * iterations instructions. */
void fw_spin(uint32_t iterations)
{
    if (iterations == 0) {
        return;
    }
#if FW_RISCV
    __asm__ volatile("1:\n\taddi %0, %0, -1\n\tbnez %0, 1b" : "+r"(iterations));
#else
    /* .syntax unified: GCC hands Armv6-M inline assembly over in the divided syntax */
    __asm__ volatile(".syntax unified\n1:\n\tsubs %0, %0, #1\n\tbne 1b" : "+l"(iterations) : : "cc");
#endif
}
