/*
 * Arm CMSDK APB UART (MPS2/MPS3 boards). Registers: DATA +0x00, STATE +0x04 (bit 0 TX full,
 * bit 1 RX full), CTRL +0x08 (TX enable, RX enable, TX irq, RX irq), INTSTATUS/INTCLEAR +0x0C,
 * BAUDDIV +0x10. Two traps, both met on QEMU: BAUDDIV below 16 transmits nothing, and the RX
 * interrupt must be cleared *before* DATA is read or later interrupts are lost.
 */
#include "fw_board.h"
#include "fw_arch.h"
#include "fw_uart.h"

#define UART_DATA FW_REG(FW_UART_BASE + 0x00u)
#define UART_STATE FW_REG(FW_UART_BASE + 0x04u)
#define UART_CTRL FW_REG(FW_UART_BASE + 0x08u)
#define UART_INTCLEAR FW_REG(FW_UART_BASE + 0x0Cu)
#define UART_BAUDDIV FW_REG(FW_UART_BASE + 0x10u)

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define STATE_OVERRUNS 0xCu
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u
#define CTRL_RX_IRQ_EN 0x8u
#define INT_RX 0x2u

#if FW_UART_CLOCK_HZ / FW_UART_BAUD < 16
#error "CMSDK UART: BAUDDIV must be at least 16"
#endif

void fw_uart_hw_init(void)
{
    UART_CTRL = 0;
    UART_BAUDDIV = FW_UART_CLOCK_HZ / FW_UART_BAUD;
    UART_STATE = STATE_OVERRUNS;
    UART_INTCLEAR = 0xFu;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_IRQ_EN;
}

void fw_uart_hw_putc(uint8_t byte)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

void fw_uart_hw_flush(void)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
}

int fw_uart_hw_poll(void)
{
    if (!(UART_STATE & STATE_RX_FULL)) {
        return -1;
    }
    UART_INTCLEAR = INT_RX;
    return (int)(UART_DATA & 0xFFu);
}

void fw_uart_irq(void)
{
    UART_INTCLEAR = INT_RX; /* first: clearing after the read loses the next interrupt */
    while (UART_STATE & STATE_RX_FULL) {
        fw_uart_rx_push((uint8_t)UART_DATA);
    }
    if (UART_STATE & STATE_OVERRUNS) {
        UART_STATE = STATE_OVERRUNS;
    }
}
