/* Measurement and system services of the edgec firmware: counters, stack painting, faults. */
#ifndef FW_SYSTEM_H
#define FW_SYSTEM_H

#include <stdint.h>

/* Restart the inference counter (fw_counter.c: SysTick or TIMER0 under QEMU -icount, the
 * DWT cycle counter, mcycle...). */
void fw_counter_start(void);
/* Raw ticks since fw_counter_start(). */
uint64_t fw_counter_ticks(void);
/* Ticks converted to the reported unit: instructions (QEMU) or cycles (silicon). */
uint64_t fw_counter_count(uint64_t ticks);

/* Fill the unused stack with a pattern; fw_stack_used() then finds the deepest write. */
void fw_stack_paint(void);
uint32_t fw_stack_used(void);
uint32_t fw_stack_reserved(void);

/* Runs a loop of exactly 2 * iterations instructions, for counter checks. */
void fw_spin(uint32_t iterations);

/* Send the fault report (8 words: the architecture's cause, status and addresses, see
 * edgec/protocol.py) and answer every request with it until RESET; never returns. */
void fw_fault_send(const uint32_t fields[8]);

/* The board's register writes before anything else (FW_STARTUP_WRITES). */
void fw_board_startup(void);

/* The fault stack: the main stack may be what overflowed. */
#define FW_FAULT_STACK_WORDS 128u
extern uint32_t fw_fault_stack[FW_FAULT_STACK_WORDS];

#endif /* FW_SYSTEM_H */
