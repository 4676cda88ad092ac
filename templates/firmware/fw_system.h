/* Measurement and system services of the edgec firmware: counters, stack painting, faults. */
#ifndef FW_SYSTEM_H
#define FW_SYSTEM_H

#include <stdint.h>

/* Restart the inference counter (SysTick under QEMU -icount, or the DWT cycle counter). */
void fw_counter_start(void);
/* Raw ticks since fw_counter_start(). */
uint64_t fw_counter_ticks(void);
/* Ticks converted to the reported unit: instructions (QEMU) or cycles (DWT). */
uint64_t fw_counter_count(uint64_t ticks);

/* Fill the unused stack with a pattern; fw_stack_used() then finds the deepest write. */
void fw_stack_paint(void);
uint32_t fw_stack_used(void);
uint32_t fw_stack_reserved(void);

/* Runs a loop of exactly 2 * iterations instructions (subs + bne), for counter checks. */
void fw_spin(uint32_t iterations);

/* Report a fault over the link and wait for RESET; never returns. */
void fw_fault_report(const uint32_t *frame, uint32_t exc_return);

#endif /* FW_SYSTEM_H */
