/*
 * Receive ring buffer shared by every UART driver, and the mask of its interrupt. A board
 * whose UART is polled (FW_UART_POLLED: its FIFO holds what arrives while a frame is being
 * handled, the host sending one request at a time) reads the hardware directly instead.
 */
#include "fw_uart.h"

#include "fw_arch.h"
#include "fw_board.h"

#if !FW_UART_POLLED
#define RING_BYTES FW_RX_RING_BYTES /* a power of two, more than one whole frame */

static volatile uint8_t ring[RING_BYTES];
static volatile uint32_t ring_head; /* written by the interrupt */
static volatile uint32_t ring_tail; /* written by the main loop */

void fw_uart_rx_push(uint8_t byte)
{
    uint32_t head = ring_head;
    if (head - ring_tail < RING_BYTES) { /* when full the byte is lost; the CRC will tell */
        ring[head & (RING_BYTES - 1u)] = byte;
        ring_head = head + 1u;
    }
}

int fw_uart_read(void)
{
    uint32_t tail = ring_tail;
    if (tail == ring_head) {
        return -1;
    }
    int byte = ring[tail & (RING_BYTES - 1u)];
    ring_tail = tail + 1u;
    return byte;
}

int fw_uart_rx_empty(void)
{
    return ring_tail == ring_head;
}

int fw_uart_poll(void)
{
    int byte = fw_uart_read();
    return byte >= 0 ? byte : fw_uart_hw_poll();
}

void fw_uart_init(void)
{
    ring_head = ring_tail = 0;
    fw_uart_hw_init();
    fw_irq_line_enable(FW_UART_IRQN, 1);
}

void fw_uart_irq_enable(int on)
{
    fw_irq_line_enable(FW_UART_IRQN, on);
}
#else
void fw_uart_rx_push(uint8_t byte)
{
    (void)byte;
}

int fw_uart_read(void)
{
    return fw_uart_hw_poll();
}

int fw_uart_rx_empty(void)
{
    return 0; /* never wait for an interrupt: there is none */
}

int fw_uart_poll(void)
{
    return fw_uart_hw_poll();
}

void fw_uart_init(void)
{
    fw_uart_hw_init();
}

void fw_uart_irq_enable(int on)
{
    (void)on;
}
#endif

void fw_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        fw_uart_hw_putc(data[i]);
    }
}

void fw_uart_flush(void)
{
    fw_uart_hw_flush();
}
