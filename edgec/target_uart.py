"""The [uart] table of a target file: the UART kinds the firmware drives, their pins and
baud rates, checked into a ``Uart`` (see targets.py; errors name the file and the field)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

UART_KINDS = (
    "cmsdk",
    "stm32_usart_f4",
    "stm32_usart_f1",
    "stm32_usart",
    "stm32_lpuart",
    "nrf_uarte",
    "nrf51_uart",
    "ns16550",
    "esp32c3_uart",
)
_STM32_PIN = re.compile(r"^P([A-K])(\d{1,2})$")
_NRF_PIN = re.compile(r"^P([01])\.(\d{2})$")
# nRF51 UART BAUDRATE register values (nRF51 reference manual, UART chapter).
NRF51_UART_BAUD = {
    9600: 0x00275000,
    19200: 0x004EA000,
    38400: 0x009D5000,
    57600: 0x00EBF000,
    115200: 0x01D7E000,
    230400: 0x03AFB000,
    460800: 0x075F7000,
    921600: 0x0EBEDFA4,
    1000000: 0x10000000,
}
# UARTE BAUDRATE register values (nRF52840 product specification, UARTE chapter).
NRF_UARTE_BAUD = {
    9600: 0x00275000,
    14400: 0x003AF000,
    19200: 0x004EA000,
    28800: 0x0075C000,
    38400: 0x009D0000,
    57600: 0x00EB0000,
    76800: 0x013A9000,
    115200: 0x01D60000,
    230400: 0x03B00000,
    250000: 0x04000000,
    460800: 0x07400000,
    921600: 0x0F000000,
    1000000: 0x10000000,
}


@dataclass(frozen=True)
class RegisterBit:
    """One bit the firmware sets before using the UART (clock gates, power domains)."""

    register: int
    bit: int
    what: str


@dataclass(frozen=True)
class Uart:
    kind: str
    base: int
    irq: int | None  # None: received by polling (build-only boards without an IRQ driver)
    clock_hz: int
    baud: int
    tx_pin: str | None = None
    rx_pin: str | None = None
    pin_af: int | None = None
    gpio_base: int | None = None
    gpio_stride: int = 0x400
    enable: tuple[RegisterBit, ...] = ()


def parse_uart(table) -> Uart:
    """The checked ``Uart`` of a target file's [uart] table (a targets._Table)."""
    kind = table.choice("kind", UART_KINDS)
    uart = Uart(
        kind=kind,
        base=table.get("base", int),
        irq=table.get("irq", int, None),
        clock_hz=table.positive("clock_hz"),
        baud=table.positive("baud"),
        tx_pin=table.get("tx_pin", str, None),
        rx_pin=table.get("rx_pin", str, None),
        pin_af=table.get("pin_af", int, None),
        gpio_base=table.get("gpio_base", int, None),
        gpio_stride=table.positive("gpio_stride", 0x400),
        enable=tuple(
            _register_bit(table, i, item) for i, item in enumerate(table.get("enable", list, []))
        ),
    )
    if uart.irq is not None and uart.irq < 0:
        raise table.error("irq", f"must be >= 0, got {uart.irq}")
    if uart.irq is None and kind not in POLLED_UARTS:
        raise table.error("irq", f"missing (only {', '.join(POLLED_UARTS)} may be polled)")
    if kind == "cmsdk" and uart.clock_hz // uart.baud < 16:
        # QEMU's CMSDK UART silently transmits nothing when BAUDDIV < 16.
        raise table.error("baud", f"{uart.baud} needs BAUDDIV < 16 at {uart.clock_hz} Hz")
    if kind.startswith("stm32"):
        for key in ("tx_pin", "rx_pin"):
            pin = getattr(uart, key)
            if pin is None or not _STM32_PIN.match(pin):
                raise table.error(key, f"expected a pin like 'PD8', got {pin!r}")
        f1 = kind == "stm32_usart_f1"  # F1-style GPIO (CTL registers): no alternate function
        if not f1 and (uart.pin_af is None or not 0 <= uart.pin_af <= 15):
            raise table.error(
                "pin_af", f"expected an alternate function 0..15, got {uart.pin_af!r}"
            )
        if uart.gpio_base is None:
            raise table.error("gpio_base", "missing (address of GPIOA)")
    if kind in ("nrf_uarte", "nrf51_uart"):
        for key in ("tx_pin", "rx_pin"):
            pin = getattr(uart, key)
            if pin is None or not _NRF_PIN.match(pin):
                raise table.error(key, f"expected a pin like 'P0.06', got {pin!r}")
        rates = NRF_UARTE_BAUD if kind == "nrf_uarte" else NRF51_UART_BAUD
        if uart.baud not in rates:
            raise table.error(
                "baud", f"{kind} cannot run at {uart.baud}; choose from {sorted(rates)}"
            )
    return uart


# UARTs with a receive FIFO (or none to lose) that the firmware may poll instead of taking
# their interrupt: the build-only RISC-V boards, whose interrupt controllers are not driven.
POLLED_UARTS = ("stm32_usart_f1", "esp32c3_uart")


def _register_bit(table, index: int, item: Any) -> RegisterBit:
    if not isinstance(item, dict):
        raise table.error(f"enable[{index}]", "expected { register = 0x…, bit = N, what = '…' }")
    entry = type(table)(item, table.file, f"{table.prefix}enable[{index}].")
    bit = entry.get("bit", int)
    if not 0 <= bit <= 31:
        raise entry.error("bit", f"must be 0..31, got {bit}")
    return RegisterBit(entry.get("register", int), bit, entry.get("what", str, ""))
