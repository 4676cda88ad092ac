/*
 * The UART the host talks to. Received bytes go through an interrupt-driven ring buffer;
 * transmission is polled. One driver per UART kind (fw_uart_<kind>.c) provides the
 * fw_uart_hw_* functions; fw_uart.c holds the ring buffer.
 */
#ifndef FW_UART_H
#define FW_UART_H

#include <stdint.h>

void fw_uart_init(void);
void fw_uart_write(const uint8_t *data, uint32_t n);
/* Wait until every written byte has left the transmitter. */
void fw_uart_flush(void);
/* Next received byte, or -1 when none is waiting. */
int fw_uart_read(void);
int fw_uart_rx_empty(void);
/* Mask or unmask the receive interrupt (masked while an inference is measured). */
void fw_uart_irq_enable(int on);
/* Receive without interrupts (used by the fault handler): a byte or -1. */
int fw_uart_poll(void);

/* Driver interface. */
void fw_uart_hw_init(void);
void fw_uart_hw_putc(uint8_t byte);
void fw_uart_hw_flush(void);
int fw_uart_hw_poll(void);
void fw_uart_rx_push(uint8_t byte);
void fw_uart_irq(void); /* the receive interrupt handler, placed in the vector table */

#endif /* FW_UART_H */
