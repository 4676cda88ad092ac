/*
 * ESP32-C3 UART0, as the ROM boot loader leaves it (115200 baud from its clock set-up, the
 * console pins): bytes go through the 128-byte FIFOs at +0x00, STATUS +0x1C counts them
 * (RXFIFO_CNT bits 9:0, TXFIFO_CNT bits 25:16). Received bytes are polled (FW_UART_POLLED):
 * the ESP32-C3's interrupt matrix is not driven by this firmware.
 */
#include "fw_arch.h"
#include "fw_board.h"
#include "fw_uart.h"

#define UART_FIFO FW_REG(FW_UART_BASE + 0x00u)
#define UART_STATUS FW_REG(FW_UART_BASE + 0x1Cu)
#define RX_COUNT() (UART_STATUS & 0x3FFu)
#define TX_COUNT() ((UART_STATUS >> 16) & 0x3FFu)

void fw_uart_hw_init(void)
{
}

void fw_uart_hw_putc(uint8_t byte)
{
    while (TX_COUNT() >= 126u) {
    }
    UART_FIFO = byte;
}

void fw_uart_hw_flush(void)
{
    while (TX_COUNT() != 0u) {
    }
}

int fw_uart_hw_poll(void)
{
    return RX_COUNT() ? (int)(UART_FIFO & 0xFFu) : -1;
}
