/*
 * The architecture layer for 32-bit RISC-V in machine mode (copied to fw_arch.h): the
 * interrupt, stack and reset primitives every firmware source may use. The UART's interrupt
 * arrives through a PLIC (QEMU virt: at FW_PLIC_BASE, hart 0's machine context 0); boards
 * without one poll their UART (FW_UART_POLLED).
 */
#ifndef FW_ARCH_H
#define FW_ARCH_H

#include <stdint.h>

#include "fw_board.h"

#define FW_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#ifdef FW_PLIC_BASE
#define FW_PLIC_PRIORITY(irq) FW_REG(FW_PLIC_BASE + 4u * (irq))
#define FW_PLIC_ENABLE(irq) FW_REG(FW_PLIC_BASE + 0x2000u + 4u * ((irq) >> 5))
#define FW_PLIC_THRESHOLD FW_REG(FW_PLIC_BASE + 0x200000u)
#define FW_PLIC_CLAIM FW_REG(FW_PLIC_BASE + 0x200004u)
#endif

#define FW_MIE_MEIE (1u << 11)
#define FW_MSTATUS_MIE (1u << 3)

/* Unmask (on) or mask one interrupt line at the PLIC. */
static inline void fw_irq_line_enable(uint32_t irq, int on)
{
#ifdef FW_PLIC_BASE
    if (on) {
        FW_PLIC_PRIORITY(irq) = 1u;
        FW_PLIC_THRESHOLD = 0u;
        FW_PLIC_ENABLE(irq) |= 1u << (irq & 31u);
        __asm__ volatile("csrs mie, %0" : : "r"(FW_MIE_MEIE));
    } else {
        FW_PLIC_ENABLE(irq) &= ~(1u << (irq & 31u));
    }
#else
    (void)irq;
    (void)on;
#endif
}

static inline void fw_irq_disable(void) { __asm__ volatile("csrc mstatus, %0" : : "r"(FW_MSTATUS_MIE) : "memory"); }
static inline void fw_irq_enable(void) { __asm__ volatile("csrs mstatus, %0" : : "r"(FW_MSTATUS_MIE) : "memory"); }
/* WFI wakes on a pending enabled interrupt even while mstatus.MIE masks it. */
static inline void fw_wait_for_interrupt(void) { __asm__ volatile("wfi" ::: "memory"); }

static inline uint32_t fw_sp(void)
{
    uint32_t sp;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    return sp;
}

static inline void fw_system_reset(void)
{
#ifdef FW_RESET_REGISTER
    FW_REG(FW_RESET_REGISTER) = FW_RESET_VALUE;
#endif
    for (;;) {
    }
}

/* An illegal instruction: exercises the fault report. */
static inline void fw_crash(void) { __asm__ volatile("unimp"); }

#endif /* FW_ARCH_H */
