/*
 * Nordic nRF52 UARTE (UART with EasyDMA). EasyDMA reads and writes RAM only, so bytes go
 * through RAM buffers. Reception uses a one-byte buffer with the ENDRX->STARTRX shortcut:
 * every received byte raises ENDRX and the interrupt copies it to the ring buffer; the
 * handler must run within one character time (87 us at 115200 baud).
 */
#include "fw_board.h"
#include "fw_arch.h"
#include "fw_uart.h"

#define UARTE(off) FW_REG(FW_UART_BASE + (off))
#define TASKS_STARTRX UARTE(0x000u)
#define TASKS_STARTTX UARTE(0x008u)
#define EVENTS_ENDRX UARTE(0x110u)
#define EVENTS_ENDTX UARTE(0x120u)
#define SHORTS UARTE(0x200u)
#define INTENSET UARTE(0x304u)
#define ENABLE UARTE(0x500u)
#define PSEL_TXD UARTE(0x50Cu)
#define PSEL_RXD UARTE(0x514u)
#define BAUDRATE UARTE(0x524u)
#define RXD_PTR UARTE(0x534u)
#define RXD_MAXCNT UARTE(0x538u)
#define RXD_AMOUNT UARTE(0x53Cu)
#define TXD_PTR UARTE(0x544u)
#define TXD_MAXCNT UARTE(0x548u)
#define CONFIG UARTE(0x56Cu)

#define SHORTS_ENDRX_STARTRX (1u << 5)
#define INT_ENDRX (1u << 4)
#define GPIO_PORT(pin) (FW_GPIO_BASE + 0x300u * ((pin) >> 5))
#define GPIO_OUTSET(pin) FW_REG(GPIO_PORT(pin) + 0x508u)
#define GPIO_DIRSET(pin) FW_REG(GPIO_PORT(pin) + 0x518u)

static volatile uint8_t rx_byte;
static uint8_t tx_buffer[64];
static uint32_t tx_count;

void fw_uart_hw_init(void)
{
    GPIO_OUTSET(FW_UART_TX_PSEL) = 1u << (FW_UART_TX_PSEL & 31u); /* idle high before enabling */
    GPIO_DIRSET(FW_UART_TX_PSEL) = 1u << (FW_UART_TX_PSEL & 31u);
    PSEL_TXD = FW_UART_TX_PSEL;
    PSEL_RXD = FW_UART_RX_PSEL;
    BAUDRATE = FW_UART_BAUD_REGISTER;
    CONFIG = 0; /* 8N1, no flow control */
    ENABLE = 8u;
    RXD_PTR = (uint32_t)(uintptr_t)&rx_byte;
    RXD_MAXCNT = 1u;
    SHORTS = SHORTS_ENDRX_STARTRX;
    EVENTS_ENDRX = 0;
    INTENSET = INT_ENDRX;
    TASKS_STARTRX = 1u;
}

static void send_buffer(void)
{
    if (tx_count == 0) {
        return;
    }
    TXD_PTR = (uint32_t)(uintptr_t)tx_buffer;
    TXD_MAXCNT = tx_count;
    EVENTS_ENDTX = 0;
    TASKS_STARTTX = 1u;
    while (!EVENTS_ENDTX) {
    }
    EVENTS_ENDTX = 0;
    tx_count = 0;
}

void fw_uart_hw_putc(uint8_t byte)
{
    tx_buffer[tx_count++] = byte;
    if (tx_count == sizeof tx_buffer) {
        send_buffer();
    }
}

void fw_uart_hw_flush(void)
{
    send_buffer();
}

int fw_uart_hw_poll(void)
{
    fw_uart_hw_flush();
    if (!EVENTS_ENDRX) {
        return -1;
    }
    EVENTS_ENDRX = 0;
    return RXD_AMOUNT ? rx_byte : -1;
}

void fw_uart_irq(void)
{
    if (EVENTS_ENDRX) {
        EVENTS_ENDRX = 0;
        (void)EVENTS_ENDRX; /* read back so the event is cleared before returning */
        if (RXD_AMOUNT) {
            fw_uart_rx_push(rx_byte);
        }
    }
}
