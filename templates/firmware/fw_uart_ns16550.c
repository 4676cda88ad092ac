/*
 * NS16550A-compatible UART (QEMU virt; byte-wide registers one byte apart): RBR/THR +0,
 * IER +1, FCR +2, LCR +3, MCR +4, LSR +5 (bit 0 data ready, bit 5 THR empty, bit 6
 * transmitter empty); the divisor latch at +0/+1 while LCR.DLAB is set.
 */
#include "fw_arch.h"
#include "fw_board.h"
#include "fw_uart.h"

#define REG8(off) (*(volatile uint8_t *)(uintptr_t)(FW_UART_BASE + (off)))
#define RBR REG8(0u)
#define THR REG8(0u)
#define DLL REG8(0u)
#define IER REG8(1u)
#define DLM REG8(1u)
#define FCR REG8(2u)
#define LCR REG8(3u)
#define MCR REG8(4u)
#define LSR REG8(5u)

#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define LSR_TEMT 0x40u

void fw_uart_hw_init(void)
{
    IER = 0;
    LCR = 0x80u; /* DLAB: the divisor latch */
    DLL = (uint8_t)(FW_UART_DIVISOR & 0xFFu);
    DLM = (uint8_t)(FW_UART_DIVISOR >> 8);
    LCR = 0x03u; /* 8N1 */
    FCR = 0x07u; /* FIFOs on and cleared */
    MCR = 0x0Bu; /* DTR, RTS, OUT2 (the interrupt line on PC-style boards) */
    IER = FW_UART_POLLED ? 0u : 0x01u; /* received data available */
}

void fw_uart_hw_putc(uint8_t byte)
{
    while (!(LSR & LSR_THRE)) {
    }
    THR = byte;
}

void fw_uart_hw_flush(void)
{
#if FW_EMULATED
    while (!(LSR & LSR_THRE)) {
    }
#else
    while (!(LSR & LSR_TEMT)) {
    }
#endif
}

int fw_uart_hw_poll(void)
{
    return (LSR & LSR_DR) ? (int)RBR : -1;
}

#if !FW_UART_POLLED
void fw_uart_irq(void)
{
    while (LSR & LSR_DR) {
        fw_uart_rx_push(RBR);
    }
}
#endif
