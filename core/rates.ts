/**
 * Link rates, defined once: how a rate is written on the command line (tc's units:
 * `100mbit`, `1gbit`, `512kbit`, or bits per second as a plain number) and how it is
 * carried in messages and plans (bits per second, a number).
 */
const UNIT_BITS = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 } as const;

export const RATE_SYNTAX = "RATE (e.g. 100mbit, 1gbit, 512kbit)";

/** Bits per second from `100mbit`, `1.5gbit`, `512kbit`, `1000000`; null when it is none of these. */
export function parseRate(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)?$/i.exec(text.trim());
  if (!m) return null;
  const bits = Number(m[1]) * UNIT_BITS[(m[2]?.toLowerCase() ?? "bit") as keyof typeof UNIT_BITS];
  return bits > 0 && Number.isFinite(bits) ? bits : null;
}

/** 100 Mbit/s, 1.5 Gbit/s, 512 kbit/s: for people. */
export function rateText(bitsPerSec: number): string {
  const [value, unit] =
    bitsPerSec >= 1e9
      ? [bitsPerSec / 1e9, "Gbit/s"]
      : bitsPerSec >= 1e6
        ? [bitsPerSec / 1e6, "Mbit/s"]
        : [bitsPerSec / 1e3, "kbit/s"];
  return `${Number(value.toFixed(2))} ${unit}`;
}
