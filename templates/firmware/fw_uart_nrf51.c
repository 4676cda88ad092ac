/*
 * Nordic nRF51 UART (no EasyDMA): one byte at a time through RXD/TXD. A received byte
 * raises EVENTS_RXDRDY (and the interrupt); the event is cleared before RXD is read, and
 * reading RXD raises it again while the receive FIFO (six bytes) holds more. A byte written
 * to TXD is sent when EVENTS_TXDRDY says the previous one left.
 */
#include "fw_arch.h"
#include "fw_board.h"
#include "fw_uart.h"

#define UART(off) FW_REG(FW_UART_BASE + (off))
#define TASKS_STARTRX UART(0x000u)
#define TASKS_STARTTX UART(0x008u)
#define EVENTS_RXDRDY UART(0x108u)
#define EVENTS_TXDRDY UART(0x11Cu)
#define EVENTS_ERROR UART(0x124u)
#define INTENSET UART(0x304u)
#define ERRORSRC UART(0x480u)
#define ENABLE UART(0x500u)
#define PSELTXD UART(0x50Cu)
#define PSELRXD UART(0x514u)
#define RXD UART(0x518u)
#define TXD UART(0x51Cu)
#define BAUDRATE UART(0x524u)
#define CONFIG UART(0x56Cu)

#define INT_RXDRDY (1u << 2)
#define GPIO_OUTSET FW_REG(0x50000508u)
#define GPIO_DIRSET FW_REG(0x50000518u)

static int tx_busy;

void fw_uart_hw_init(void)
{
    GPIO_OUTSET = 1u << FW_UART_TX_PSEL; /* TX idles high, as an output */
    GPIO_DIRSET = 1u << FW_UART_TX_PSEL;
    PSELTXD = FW_UART_TX_PSEL;
    PSELRXD = FW_UART_RX_PSEL;
    BAUDRATE = FW_UART_BAUD_REGISTER;
    CONFIG = 0; /* 8N1, no flow control */
    ENABLE = 4u;
    EVENTS_RXDRDY = 0;
    EVENTS_TXDRDY = 0;
    TASKS_STARTTX = 1u;
    TASKS_STARTRX = 1u;
    INTENSET = INT_RXDRDY;
    tx_busy = 0;
}

void fw_uart_hw_putc(uint8_t byte)
{
    if (tx_busy) {
        while (!EVENTS_TXDRDY) {
        }
    }
    EVENTS_TXDRDY = 0;
    TXD = byte;
    tx_busy = 1;
}

void fw_uart_hw_flush(void)
{
    if (tx_busy) {
        while (!EVENTS_TXDRDY) {
        }
    }
}

static void clear_error(void)
{
    if (EVENTS_ERROR) {
        EVENTS_ERROR = 0;
        ERRORSRC = ERRORSRC; /* write 1 to clear the bits that are set */
    }
}

int fw_uart_hw_poll(void)
{
    clear_error();
    if (!EVENTS_RXDRDY) {
        return -1;
    }
    EVENTS_RXDRDY = 0;
    return (int)(RXD & 0xFFu);
}

void fw_uart_irq(void)
{
    while (EVENTS_RXDRDY) {
        EVENTS_RXDRDY = 0; /* first: reading RXD raises it again if more bytes wait */
        fw_uart_rx_push((uint8_t)RXD);
    }
    clear_error();
}
