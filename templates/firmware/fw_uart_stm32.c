/*
 * STM32 USART / LPUART (and the GD32 parts that copy the F1's). Two register layouts:
 * - FW_UART_STM32_F4 (F1/F2/F4, GD32VF103): SR +0x00, DR +0x04, BRR +0x08, CR1 +0x0C (UE is
 *   bit 13);
 * - otherwise (F7/L4/G4/H7 USART and LPUART): CR1 +0x00 (UE bit 0), BRR +0x0C, ISR +0x1C,
 *   ICR +0x20, RDR +0x24, TDR +0x28; LPUART's BRR is 256 * f_ck / baud.
 * Before the UART, the board's clock gates and power bits (FW_UART_ENABLE_BITS) are set and
 * the TX/RX pins put in their alternate function: MODER/AFR on F2 and later; on F1-style
 * GPIO (FW_GPIO_F1: CTL0/CTL1, four bits a pin) TX is an alternate-function push-pull
 * output and RX a floating input.
 */
#include "fw_board.h"
#include "fw_arch.h"
#include "fw_uart.h"

#if FW_UART_STM32_F4
#define UART_SR FW_REG(FW_UART_BASE + 0x00u)
#define UART_RDR FW_REG(FW_UART_BASE + 0x04u)
#define UART_TDR FW_REG(FW_UART_BASE + 0x04u)
#define UART_BRR FW_REG(FW_UART_BASE + 0x08u)
#define UART_CR1 FW_REG(FW_UART_BASE + 0x0Cu)
#define CR1_UE (1u << 13)
#else
#define UART_CR1 FW_REG(FW_UART_BASE + 0x00u)
#define UART_BRR FW_REG(FW_UART_BASE + 0x0Cu)
#define UART_SR FW_REG(FW_UART_BASE + 0x1Cu)
#define UART_ICR FW_REG(FW_UART_BASE + 0x20u)
#define UART_RDR FW_REG(FW_UART_BASE + 0x24u)
#define UART_TDR FW_REG(FW_UART_BASE + 0x28u)
#define CR1_UE (1u << 0)
#endif
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)

#define GPIO(port) (FW_GPIO_BASE + FW_GPIO_STRIDE * (uint32_t)(port))

static const uint32_t enable_bits[][2] = FW_UART_ENABLE_BITS;

#if FW_GPIO_F1
static void pin_mode_f1(uint32_t port, uint32_t pin, uint32_t mode)
{
    uint32_t reg = GPIO(port) + (pin < 8u ? 0x00u : 0x04u);
    uint32_t shift = 4u * (pin & 7u);
    FW_REG(reg) = (FW_REG(reg) & ~(0xFu << shift)) | (mode << shift);
}
#else
static void pin_alternate(uint32_t port, uint32_t pin, uint32_t af, int pull_up)
{
    uint32_t base = GPIO(port);
    FW_REG(base + 0x00u) = (FW_REG(base + 0x00u) & ~(3u << (2u * pin))) | (2u << (2u * pin)); /* MODER: AF */
    FW_REG(base + 0x08u) |= 3u << (2u * pin); /* OSPEEDR: very high */
    FW_REG(base + 0x0Cu) = (FW_REG(base + 0x0Cu) & ~(3u << (2u * pin))) | ((pull_up ? 1u : 0u) << (2u * pin));
    uint32_t afr = base + (pin < 8u ? 0x20u : 0x24u);
    uint32_t shift = 4u * (pin & 7u);
    FW_REG(afr) = (FW_REG(afr) & ~(0xFu << shift)) | (af << shift);
}
#endif

void fw_uart_hw_init(void)
{
    for (uint32_t i = 0; i < sizeof enable_bits / sizeof enable_bits[0]; i++) {
        FW_REG(enable_bits[i][0]) |= 1u << enable_bits[i][1];
        (void)FW_REG(enable_bits[i][0]); /* read back: the clock is on before first use */
    }
#if FW_GPIO_F1
    pin_mode_f1(FW_UART_TX_PORT, FW_UART_TX_PIN, 0xBu); /* AF push-pull, 50 MHz */
    pin_mode_f1(FW_UART_RX_PORT, FW_UART_RX_PIN, 0x4u); /* floating input */
#else
    pin_alternate(FW_UART_TX_PORT, FW_UART_TX_PIN, FW_UART_PIN_AF, 0);
    pin_alternate(FW_UART_RX_PORT, FW_UART_RX_PIN, FW_UART_PIN_AF, 1);
#endif
    UART_CR1 = 0;
    UART_BRR = FW_UART_BRR;
    UART_CR1 = CR1_TE | CR1_RE | (FW_UART_POLLED ? 0u : CR1_RXNEIE);
    UART_CR1 |= CR1_UE;
}

void fw_uart_hw_putc(uint8_t byte)
{
    while (!(UART_SR & SR_TXE)) {
    }
    UART_TDR = byte;
}

void fw_uart_hw_flush(void)
{
    while (!(UART_SR & SR_TXE)) {
    }
#if !FW_EMULATED
    while (!(UART_SR & SR_TC)) {
    }
#endif
}

static void clear_overrun(void)
{
#if FW_UART_STM32_F4
    (void)UART_SR; /* ORE clears by reading SR then DR */
    (void)UART_RDR;
#else
    UART_ICR = SR_ORE;
#endif
}

int fw_uart_hw_poll(void)
{
    uint32_t sr = UART_SR;
    if (sr & SR_RXNE) {
        return (int)(UART_RDR & 0xFFu);
    }
    if (sr & SR_ORE) {
        clear_overrun();
    }
    return -1;
}

#if !FW_UART_POLLED
void fw_uart_irq(void)
{
    uint32_t sr;
    while ((sr = UART_SR) & SR_RXNE) {
        fw_uart_rx_push((uint8_t)UART_RDR);
    }
    if (sr & SR_ORE) {
        clear_overrun();
    }
}
#endif
