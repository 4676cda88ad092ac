/*
 * The architecture layer for Cortex-M (copied to fw_arch.h): the few system registers used
 * (SysTick, NVIC, SCB, DWT; the same addresses on M0/M3/M4/M7/M33/M55) and the interrupt,
 * stack and reset primitives every firmware source may use.
 */
#ifndef FW_ARCH_H
#define FW_ARCH_H

#include <stdint.h>

#define FW_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define FW_SYST_CSR FW_REG(0xE000E010u)
#define FW_SYST_RVR FW_REG(0xE000E014u)
#define FW_SYST_CVR FW_REG(0xE000E018u)
#define FW_NVIC_ISER(n) FW_REG(0xE000E100u + 4u * (n))
#define FW_NVIC_ICER(n) FW_REG(0xE000E180u + 4u * (n))
#define FW_SCB_ICSR FW_REG(0xE000ED04u)
#define FW_SCB_VTOR FW_REG(0xE000ED08u)
#define FW_SCB_AIRCR FW_REG(0xE000ED0Cu)
#define FW_SCB_SHCSR FW_REG(0xE000ED24u)
#define FW_SCB_CFSR FW_REG(0xE000ED28u)
#define FW_SCB_HFSR FW_REG(0xE000ED2Cu)
#define FW_SCB_MMFAR FW_REG(0xE000ED34u)
#define FW_SCB_BFAR FW_REG(0xE000ED38u)
#define FW_SCB_CPACR FW_REG(0xE000ED88u)
#define FW_DEMCR FW_REG(0xE000EDFCu)
#define FW_DWT_CTRL FW_REG(0xE0001000u)
#define FW_DWT_CYCCNT FW_REG(0xE0001004u)
#define FW_DWT_LAR FW_REG(0xE0001FB0u)

/* Unmask (on) or mask one interrupt line at the NVIC. */
static inline void fw_irq_line_enable(uint32_t irq, int on)
{
    if (on) {
        FW_NVIC_ISER(irq >> 5) = 1u << (irq & 31u);
    } else {
        FW_NVIC_ICER(irq >> 5) = 1u << (irq & 31u);
        __asm__ volatile("dsb\n\tisb" ::: "memory");
    }
}

static inline void fw_irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void fw_irq_enable(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void fw_wait_for_interrupt(void) { __asm__ volatile("wfi" ::: "memory"); }

static inline uint32_t fw_sp(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

static inline void fw_system_reset(void)
{
    __asm__ volatile("dsb" ::: "memory");
    FW_SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {
    }
}

/* An undefined instruction: exercises the fault report. */
static inline void fw_crash(void) { __asm__ volatile("udf #0"); }

#endif /* FW_ARCH_H */
